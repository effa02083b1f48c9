package eventstore

import (
	"time"

	"github.com/ticketd/ticketd/domain"
)

// ErrReadOnly fails writes to a store opened read-only; ErrStoreClosed the
// appends that reach a store after Close. Both are CodeUnavailable.
var (
	ErrReadOnly    = domain.Errorf(domain.CodeUnavailable, "The database is open read-only.")
	ErrStoreClosed = domain.Errorf(domain.CodeUnavailable, "The service is shutting down.")
)

// Outcome is what one append of a group commit gets back: its result, or
// the error that failed it.
type Outcome struct {
	Result AppendResult
	Err    error
}

// SettleGroup completes the outcomes of one group commit: when err, the
// error of the transaction itself, is set, every append without an error of
// its own fails with it. It returns the group's CommitInfo.
func SettleGroup(outcomes []Outcome, err error, took time.Duration) CommitInfo {
	info := CommitInfo{Appends: len(outcomes), Events: map[string]int{}, Took: took, Err: err}
	for i, out := range outcomes {
		switch {
		case err != nil && out.Err == nil:
			outcomes[i] = Outcome{Err: err}
		case out.Err != nil:
			info.Failed++
		default:
			for _, r := range out.Result.Records {
				info.Events[r.Type]++
			}
		}
	}
	return info
}
