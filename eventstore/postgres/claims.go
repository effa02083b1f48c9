package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// claimsJob is the claims part of req as ticketd_claims (migration 0005)
// takes it, or nil when req has none.
func claimsJob(req eventstore.AppendRequest) any {
	if !req.HasClaims() {
		return nil
	}
	type end struct {
		ID     string             `json:"id"`
		State  string             `json:"state"`
		Claims []eventstore.Claim `json:"claims"`
	}
	type reservation struct {
		ID        string             `json:"id"`
		ExpiresAt string             `json:"expires_at"`
		Claims    []eventstore.Claim `json:"claims"`
	}
	ends := []end{}
	for _, r := range req.Release {
		ends = append(ends, end{ID: r.ReservationID, State: eventstore.ReservationReleased})
	}
	for _, s := range req.Settle {
		e := end{ID: s.ReservationID, State: eventstore.ReservationSettled}
		if len(s.Claims) > 0 {
			e.Claims = s.Claims
		}
		ends = append(ends, e)
	}
	reserve := make([]reservation, len(req.Reserve))
	for i, r := range req.Reserve {
		reserve[i] = reservation{ID: r.ID, ExpiresAt: domain.FormatTime(r.ExpiresAt), Claims: nonNil(r.Claims)}
	}
	return map[string]any{"end": ends, "claims": nonNil(req.Claims), "reserve": reserve}
}

// nonNil is claims, an empty slice for none: ticketd_claims takes arrays.
func nonNil(claims []eventstore.Claim) []eventstore.Claim {
	if claims == nil {
		return []eventstore.Claim{}
	}
	return claims
}

// claimError is the error Append gives for a job error of ticketd_claims.
func claimError(raw json.RawMessage) error {
	var e struct {
		Kind, Counter, ID, State string
		Limit, Used              int64
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("decode job error %s: %w", raw, err)
	}
	switch e.Kind {
	case "limit":
		return &eventstore.LimitError{Counter: e.Counter, Limit: e.Limit, Used: e.Used}
	case "reservation":
		return &eventstore.ReservationError{ID: e.ID, State: e.State}
	}
	return &eventstore.ReservationExistsError{ID: e.ID}
}

// ExpiredReservations returns up to limit reservations that expired at or
// before before and are neither released nor settled; see
// eventstore.ReservationReader.
func (s *Store) ExpiredReservations(ctx context.Context, before time.Time, limit int) ([]eventstore.Reservation, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, expires_at, claims::text FROM reservations
		WHERE state = 'live' AND expires_at <= $1 ORDER BY expires_at, id LIMIT $2`, domain.FormatTime(before), limit)
	if err != nil {
		return nil, classify(err)
	}
	defer rows.Close()
	out := []eventstore.Reservation{}
	for rows.Next() {
		var id, expiresAt, claims string
		if err := rows.Scan(&id, &expiresAt, &claims); err != nil {
			return nil, classify(err)
		}
		r, err := eventstore.DecodeReservation(id, expiresAt, claims)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, classify(rows.Err())
}

// RestoreClaims replaces the counters and reservations with state in one
// transaction that holds the append lock; see eventstore.ClaimRestorer.
func (s *Store) RestoreClaims(ctx context.Context, state eventstore.ClaimState) error {
	if err := state.Check(); err != nil {
		return err
	}
	type reservation struct {
		ID        string             `json:"id"`
		ExpiresAt string             `json:"expires_at"`
		State     string             `json:"state"`
		Claims    []eventstore.Claim `json:"claims"`
	}
	reservations := make([]reservation, len(state.Reservations))
	for i, r := range state.Reservations {
		reservations[i] = reservation{ID: r.ID, ExpiresAt: domain.FormatTime(r.ExpiresAt), State: r.State, Claims: nonNil(r.Claims)}
	}
	if state.Used == nil {
		state.Used = map[string]int64{} // jsonb_each_text takes an object
	}
	used, err := json.Marshal(state.Used)
	if err != nil {
		return err
	}
	all, err := json.Marshal(reservations)
	if err != nil {
		return err
	}
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []string{
			`SELECT pg_advisory_xact_lock(ticketd_lock_key('append'))`,
			`DELETE FROM counters`, `DELETE FROM reservations`, `DELETE FROM reservation_claims`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO counters (key, used) SELECT key, value::bigint FROM jsonb_each_text($1::jsonb)`, string(used)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO reservations (id, expires_at, state, claims)
			SELECT r->>'id', r->>'expires_at', r->>'state', r->'claims' FROM jsonb_array_elements($1::jsonb) r`, string(all)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO reservation_claims (reservation_id, counter, amount, expires_at)
			SELECT r->>'id', c->>'counter', (c->>'amount')::bigint, r->>'expires_at'
			FROM jsonb_array_elements($1::jsonb) r, jsonb_array_elements(r->'claims') c WHERE r->>'state' = 'live'`, string(all))
		return err
	}))
}
