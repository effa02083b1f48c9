package httpapi

import (
	"strings"
	"testing"
)

func TestGuardedConnFindsBothLengthHeadersHoweverTheBytesArrive(t *testing.T) {
	long := "X-Padding: " + strings.Repeat("p", 200) + "\r\n"
	tests := []struct {
		name, head string
		ambiguous  bool
	}{
		{"both", "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, other case and order, bare LF", "POST / HTTP/1.1\ntransfer-ENCODING: chunked\n" + long + "CONTENT-length: 5\n\n", true},
		{"in the second request", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"Content-Length only", "POST / HTTP/1.1\r\nContent-Length: 5\r\n" + long + "\r\n", false},
		{"Transfer-Encoding only", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", false},
		{"one in each of two requests", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}\r\nPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"a name that only starts alike", "POST / HTTP/1.1\r\nContent-Lengthy: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 3, len(tt.head)} {
			g := &guardedConn{}
			for i := 0; i < len(tt.head); i += step {
				g.scan([]byte(tt.head[i:min(i+step, len(tt.head))]))
			}
			if g.ambiguous.Load() != tt.ambiguous {
				t.Errorf("%s, read %d bytes at a time: ambiguous = %v, want %v", tt.name, step, !tt.ambiguous, tt.ambiguous)
			}
		}
	}
}
