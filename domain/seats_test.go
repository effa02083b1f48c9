package domain_test

import (
	"testing"

	"github.com/ticketd/ticketd/domain"
	"github.com/ticketd/ticketd/domain/domaintest"
)

func TestCountersNameTheirShowingAndBuyer(t *testing.T) {
	for _, c := range []struct {
		counter, showing, user string
		ok                     bool
	}{
		{domain.ShowingCounter(showing), showing, "", true},
		{domain.BuyerCounter(showing, "user123"), showing, "user123", true},
		{domain.BuyerCounter(showing, "a/buyer/b"), showing, "a/buyer/b", true},
		{domain.BuyerCounter(showing, ""), showing, "", true},
		{"ticket/" + showing, "", "", false},
		{"showing/", "", "", false},
		{"showing/" + showing + "/seller/u", "", "", false},
	} {
		s, u, ok := domain.ParseCounter(c.counter)
		if ok != c.ok || (ok && (s != c.showing || u != c.user)) {
			t.Errorf("ParseCounter(%q) = %q, %q, %t; want %q, %q, %t", c.counter, s, u, ok, c.showing, c.user, c.ok)
		}
	}
}

// TestRefusedClaimsAndHoldsBecomeTheContractsConflicts: what the log
// refuses becomes the 409 the contract names, with its members.
func TestRefusedClaimsAndHoldsBecomeTheContractsConflicts(t *testing.T) {
	for name, c := range map[string]struct {
		err  error
		want domaintest.Failure
	}{
		"a showing's counter full":            {domain.ClaimRefused(domain.ShowingCounter(showing), 180, 178), domaintest.Broken(domain.RuleSoldOut, map[string]int64{"available": 2})},
		"a showing's counter with no seat":    {domain.ClaimRefused(domain.ShowingCounter(showing), 180, 180), domaintest.Broken(domain.RuleSoldOut, map[string]int64{"available": 0})},
		"a buyer's counter full":              {domain.ClaimRefused(domain.BuyerCounter(showing, "u"), 4, 3), domaintest.Broken(domain.RuleLimitExceeded, map[string]int64{"limit": 4, "bought": 3})},
		"a counter of nothing":                {domain.ClaimRefused("elsewhere", 4, 3), domaintest.Failure{Code: domain.CodeInternal}},
		"an expired reservation":              {domain.HoldRefused("h", domain.ReservationExpired), domaintest.Broken(domain.RuleHoldExpired, nil)},
		"a released reservation":              {domain.HoldRefused("h", domain.ReservationReleased), domaintest.Broken(domain.RuleHoldReleased, nil)},
		"a settled reservation":               {domain.HoldRefused("h", domain.ReservationSettled), domaintest.Broken(domain.RuleHoldUsed, nil)},
		"a reservation the log does not know": {domain.HoldRefused("h", domain.ReservationUnknown), domaintest.Failure{Code: domain.CodeInternal}},
	} {
		t.Run(name, func(t *testing.T) {
			c.want.Check(t, c.err)
			if domain.ErrorRule(c.err) != c.want.Rule {
				t.Errorf("ErrorRule = %q, want %q", domain.ErrorRule(c.err), c.want.Rule)
			}
		})
	}
}

// TestARefusedReleaseIsAnsweredAsTheHoldIs: a release the log refuses
// because the hold was released (or expired and released) meanwhile is
// answered released (expired), appending nothing; one used meanwhile is
// hold-used.
func TestARefusedReleaseIsAnsweredAsTheHoldIs(t *testing.T) {
	const hold = "0193d000-0000-7000-8000-000000000001"
	s := domaintest.Fold([]domaintest.Event{scheduledAs(showing, nil), heldAs(showing, hold, "u", 1, 2*domaintest.Now.Sub(domaintest.At))}).Showings[showing]
	r, err := domain.ReleaseHold(s, hold, domaintest.Now)
	if err != nil || r.Event == nil {
		t.Fatalf("ReleaseHold = %+v, %v; want a release", r, err)
	}
	again, err := r.Refused(domain.ReservationReleased)
	if err != nil || again.Event != nil || len(again.Seats.Release) != 0 || again.Hold.Status != domain.HoldStatusReleased || again.Hold.ID != hold {
		t.Errorf("refused as released: %+v, %v; want the hold released, nothing to append", again, err)
	}
	again, err = r.Refused(domain.ReservationExpired)
	if err != nil || again.Event != nil || len(again.Seats.Release) != 0 || again.Hold.Status != domain.HoldStatusExpired || again.Hold.ID != hold {
		t.Errorf("refused as expired: %+v, %v; want the hold expired, nothing to append", again, err)
	}
	_, err = r.Refused(domain.ReservationSettled)
	domaintest.Broken(domain.RuleHoldUsed, nil).Check(t, err)
}
