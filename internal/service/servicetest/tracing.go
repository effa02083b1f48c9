package servicetest

// ClientTraceparent is the trace context a client sends: trace
// 4bf92f3577b34da6a3ce929d0e0e4736, parent span 00f067aa0ba902b7, sampled.
const (
	ClientTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ClientTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	ClientSpanID      = "00f067aa0ba902b7"
)
