package eventstore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"

	"github.com/ticketd/ticketd/domain"
)

// GenesisHash is the prev_hash of the first event of every log.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// ComputeHash returns the hash r must carry, chaining from r.PrevHash:
//
//	hash = lowercase hex of SHA-256( prev || field(position) || field(id) ||
//	       field(stream_id) || field(version) || field(type) ||
//	       field(occurred_at) || field(data) || field(metadata) )
//
// where prev is the 32 bytes prev_hash encodes (hex-decoded; a malformed
// prev_hash is hashed as its raw text, so it can never verify), field(x) is
// x's length as a 4-byte big-endian integer followed by x's bytes, integers
// are written in decimal ASCII, occurred_at in domain.TimeLayout, and data and
// metadata are the exact JSON text stored in the log.
func (r Record) ComputeHash() string {
	h := sha256.New()
	prev, err := hex.DecodeString(r.PrevHash)
	if err != nil || len(prev) != sha256.Size {
		prev = []byte(r.PrevHash)
	}
	h.Write(prev)
	var lenBuf [4]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint32(lenBuf[:], uint32(len(b)))
		h.Write(lenBuf[:])
		h.Write(b)
	}
	field(strconv.AppendInt(nil, r.Position, 10))
	field([]byte(r.ID))
	field([]byte(r.StreamID))
	field(strconv.AppendInt(nil, r.Version, 10))
	field([]byte(r.Type))
	field([]byte(domain.FormatTime(r.OccurredAt)))
	field(r.Data)
	field(r.Metadata)
	return hex.EncodeToString(h.Sum(nil))
}
