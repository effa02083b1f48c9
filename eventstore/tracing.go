package eventstore

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName names the tracer both engines trace appends with.
const TracerName = "github.com/ticketd/ticketd/eventstore"

// StartAppendSpan starts the span of one Append, a child of ctx's span.
func StartAppendSpan(ctx context.Context, tracer trace.Tracer) (context.Context, trace.Span) {
	return tracer.Start(ctx, "eventstore.append")
}

// EndAppendSpan records err on span, when set, and ends it.
func EndAppendSpan(span trace.Span, err error) {
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// GroupCommitSpan is the span of one group commit: a trace of its own, linked
// with the span of every append it carries, each of which is linked back by
// End. A group commit serves many requests, so it cannot be a child of one.
type GroupCommitSpan struct {
	span    trace.Span
	appends []trace.Span
}

// StartGroupCommitSpan starts the span of a group commit carrying n appends,
// the span of the i-th being spanOf(i) (nil for an append without one, such
// as an import).
func StartGroupCommitSpan(tracer trace.Tracer, n int, spanOf func(i int) trace.Span) GroupCommitSpan {
	appends := make([]trace.Span, n)
	links := make([]trace.Link, 0, n)
	for i := range appends {
		if appends[i] = spanOf(i); appends[i] != nil {
			links = append(links, trace.Link{SpanContext: appends[i].SpanContext()})
		}
	}
	_, span := tracer.Start(context.Background(), "eventstore.group_commit", trace.WithNewRoot(),
		trace.WithLinks(links...), trace.WithAttributes(attribute.Int("ticketd.appends", len(appends))))
	return GroupCommitSpan{span: span, appends: appends}
}

// End links every append's span back to the group commit, records err (the
// commit's own failure), when set, and ends the span. Call it before the
// appends are answered, so their spans are still open.
func (g GroupCommitSpan) End(err error) {
	for _, a := range g.appends {
		if a != nil {
			a.AddLink(trace.Link{SpanContext: g.span.SpanContext()})
		}
	}
	if err != nil {
		g.span.SetStatus(codes.Error, err.Error())
	}
	g.span.End()
}
