package eventstore

import "testing"

// TestLogEndMovesOnlyForwardAndIgnoresPartialTips advances a LogEnd as a
// store's loads, commits and notifications do, out of order among them.
func TestLogEndMovesOnlyForwardAndIgnoresPartialTips(t *testing.T) {
	var e LogEnd
	e.Advance(Tip{Hash: GenesisHash})
	if p, h := e.LogHead(); p != 0 || h != GenesisHash {
		t.Fatalf("empty log's head = %d %q, want 0 and GenesisHash", p, h)
	}
	_, changed := e.HeadChanged()
	e.Advance(Tip{Position: 3, Hash: "c"})
	select {
	case <-changed:
	default:
		t.Fatal("HeadChanged's channel stayed open after the head moved")
	}
	for _, stale := range []Tip{{Position: 2, Hash: "b"}, {Position: 3}, {}} {
		e.Advance(stale)
		if p, h := e.LogHead(); p != 3 || h != "c" {
			t.Fatalf("after Advance(%+v) the head is %d %q, want it still at 3 %q", stale, p, h, "c")
		}
	}
	e.Advance(Tip{Position: 3, Hash: "c2"}) // the head's hash read anew, as after a repair
	if e.Head() != 3 || e.LastHash() != "c2" {
		t.Fatalf("head = %d %q, want 3 %q", e.Head(), e.LastHash(), "c2")
	}
}
