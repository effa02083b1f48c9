package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/eventstore"
)

// claimsSchema holds the bounded counters and reservations of
// eventstore.Claim. counters.used is a counter's settled amount;
// reservation_claims has a row per claim of each live reservation (deleted
// when it is released or settled), which the used amount at a time sums
// while expires_at is after it. Times are domain.FormatTime text, which
// orders as the times do.
const claimsSchema = `
CREATE TABLE IF NOT EXISTS counters (
	key  TEXT    PRIMARY KEY,
	used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
	id         TEXT PRIMARY KEY,
	expires_at TEXT NOT NULL,
	state      TEXT NOT NULL CHECK (state IN ('live', 'released', 'settled', 'expired')),
	claims     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reservations_live_expiry ON reservations (expires_at, id) WHERE state = 'live';
CREATE TABLE IF NOT EXISTS reservation_claims (
	reservation_id TEXT    NOT NULL,
	counter        TEXT    NOT NULL,
	amount         INTEGER NOT NULL,
	expires_at     TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS reservation_claims_counter ON reservation_claims (counter, expires_at);
CREATE INDEX IF NOT EXISTS reservation_claims_reservation ON reservation_claims (reservation_id);
`

// applyClaims decides and writes req's releases, settlements, claims and
// reservations in tx, in that order, at the commit time now. It returns
// *eventstore.LimitError, *eventstore.ReservationError or
// *eventstore.ReservationExistsError when one does not hold, having written
// part of them: the caller rolls the append's savepoint back.
func applyClaims(tx *sql.Tx, req eventstore.AppendRequest, now time.Time) error {
	at := domain.FormatTime(now)
	for _, r := range req.Release {
		if _, err := endReservation(tx, r.ReservationID, eventstore.ReservationReleased, at); err != nil {
			return err
		}
	}
	for _, s := range req.Settle {
		claims, err := endReservation(tx, s.ReservationID, eventstore.ReservationSettled, at)
		if err != nil {
			return err
		}
		if len(s.Claims) > 0 {
			claims = s.Claims
		}
		if err := settleClaims(tx, claims, at); err != nil {
			return err
		}
	}
	if err := settleClaims(tx, req.Claims, at); err != nil {
		return err
	}
	for _, r := range req.Reserve {
		if err := reserve(tx, r, at); err != nil {
			return err
		}
	}
	return nil
}

// endReservation moves the reservation id from live to state (released or
// settled) and frees its amounts; it returns its claims. A settlement needs
// the reservation unexpired at at; a release does not, and leaves an
// expired one expired.
func endReservation(tx *sql.Tx, id, state, at string) ([]eventstore.Claim, error) {
	var expiresAt, current, claims string
	err := tx.QueryRow(`SELECT expires_at, state, claims FROM reservations WHERE id = ?`, id).Scan(&expiresAt, &current, &claims)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, &eventstore.ReservationError{ID: id, State: eventstore.ReservationUnknown}
	case err != nil:
		return nil, err
	case current != "live":
		return nil, &eventstore.ReservationError{ID: id, State: current}
	case state == eventstore.ReservationSettled && expiresAt <= at:
		return nil, &eventstore.ReservationError{ID: id, State: eventstore.ReservationExpired}
	case expiresAt <= at:
		state = eventstore.ReservationExpired
	}
	if _, err := tx.Exec(`UPDATE reservations SET state = ? WHERE id = ?`, state, id); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`DELETE FROM reservation_claims WHERE reservation_id = ?`, id); err != nil {
		return nil, err
	}
	var decoded []eventstore.Claim
	if err := json.Unmarshal([]byte(claims), &decoded); err != nil {
		return nil, fmt.Errorf("reservation %q: stored claims: %w", id, err)
	}
	return decoded, nil
}

// settleClaims adds each claim's amount to its counter's settled amount,
// after checking that a positive one fits at at.
func settleClaims(tx *sql.Tx, claims []eventstore.Claim, at string) error {
	for _, c := range claims {
		if err := checkFits(tx, c, at); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO counters (key, used) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET used = used + excluded.used`, c.Counter, c.Amount); err != nil {
			return err
		}
	}
	return nil
}

// reserve records r, its claims checked one by one, each counted by the
// next while r is live at at.
func reserve(tx *sql.Tx, r eventstore.Reservation, at string) error {
	claims, err := json.Marshal(r.Claims)
	if err != nil {
		return err
	}
	res, err := tx.Exec(`INSERT INTO reservations (id, expires_at, state, claims) VALUES (?, ?, 'live', ?) ON CONFLICT (id) DO NOTHING`,
		r.ID, domain.FormatTime(r.ExpiresAt), string(claims))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return &eventstore.ReservationExistsError{ID: r.ID}
	}
	for _, c := range r.Claims {
		if err := checkFits(tx, c, at); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO reservation_claims (reservation_id, counter, amount, expires_at) VALUES (?, ?, ?, ?)`,
			r.ID, c.Counter, c.Amount, domain.FormatTime(r.ExpiresAt)); err != nil {
			return err
		}
	}
	return nil
}

// checkFits returns a *eventstore.LimitError when c's amount is positive
// and its counter's used amount at at leaves less room.
func checkFits(tx *sql.Tx, c eventstore.Claim, at string) error {
	if c.Amount <= 0 {
		return nil
	}
	var used int64
	err := tx.QueryRow(`SELECT COALESCE((SELECT used FROM counters WHERE key = ?1), 0)
		+ COALESCE((SELECT SUM(amount) FROM reservation_claims WHERE counter = ?1 AND expires_at > ?2), 0)`, c.Counter, at).Scan(&used)
	if err != nil {
		return err
	}
	if used+c.Amount > c.Limit {
		return &eventstore.LimitError{Counter: c.Counter, Limit: c.Limit, Used: used}
	}
	return nil
}

// ExpiredReservations returns up to limit reservations that expired at or
// before before and are neither released nor settled; see
// eventstore.ReservationReader.
func (s *Store) ExpiredReservations(ctx context.Context, before time.Time, limit int) ([]eventstore.Reservation, error) {
	rows, err := s.readDB.QueryContext(ctx, `SELECT id, expires_at, claims FROM reservations
		WHERE state = 'live' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?`, domain.FormatTime(before), limit)
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
// transaction of the writer's connection, between group commits; see
// eventstore.ClaimRestorer.
func (s *Store) RestoreClaims(ctx context.Context, state eventstore.ClaimState) error {
	if s.opts.ReadOnly {
		return eventstore.ErrReadOnly
	}
	if err := state.Check(); err != nil {
		return err
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	_, err := s.inWriteTx(func(tx *sql.Tx) (eventstore.Tip, error) {
		for _, table := range []string{"counters", "reservations", "reservation_claims"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table); err != nil {
				return eventstore.Tip{}, err
			}
		}
		for key, used := range state.Used {
			if _, err := tx.ExecContext(ctx, `INSERT INTO counters (key, used) VALUES (?, ?)`, key, used); err != nil {
				return eventstore.Tip{}, err
			}
		}
		for _, r := range state.Reservations {
			claims, err := json.Marshal(r.Claims)
			if err != nil {
				return eventstore.Tip{}, err
			}
			expiresAt := domain.FormatTime(r.ExpiresAt)
			if _, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, expires_at, state, claims) VALUES (?, ?, ?, ?)`,
				r.ID, expiresAt, r.State, string(claims)); err != nil {
				return eventstore.Tip{}, err
			}
			if r.State != eventstore.ReservationLive {
				continue
			}
			for _, c := range r.Claims {
				if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_claims (reservation_id, counter, amount, expires_at) VALUES (?, ?, ?, ?)`,
					r.ID, c.Counter, c.Amount, expiresAt); err != nil {
					return eventstore.Tip{}, err
				}
			}
		}
		return s.Tip(), nil
	})
	return err
}
