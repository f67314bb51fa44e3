package stream

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// defaultNATSSubject is the subject prefix of a nats destination whose
// Config.Subject is empty.
const defaultNATSSubject = "auditlog"

// dialTimeout bounds connecting to a destination when the context allows
// longer.
const dialTimeout = 10 * time.Second

func init() { openers[TypeNATS] = openNATS }

// natsDestination publishes each activity to NATS JetStream, on
// "<prefix>.<activity system name>", with the Nats-Msg-Id
// "<origin>/<activity id>" by which JetStream drops the repeats of a retried
// delivery. The stream capturing those subjects is the operator's to create.
// It connects on the first delivery; nats.go then reconnects by itself, and
// a connection it gave up on is replaced on the next delivery. Its Deliver
// and Close calls do not overlap.
type natsDestination struct {
	url            string // redacted, for errors
	dialURL        string
	prefix, origin string
	nc             *nats.Conn
	js             jetstream.JetStream
}

func openNATS(cfg Config) (Destination, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "nats" || u.Host == "" {
		return nil, auditlog.FieldErrorf("url", "url must be nats://host:port")
	}
	prefix := cfg.Subject
	if prefix == "" {
		prefix = defaultNATSSubject
	}
	if err := auditlog.CheckSubjectPrefix(prefix); err != nil {
		return nil, err
	}
	return &natsDestination{url: u.Redacted(), dialURL: cfg.URL, prefix: prefix, origin: cfg.Origin}, nil
}

// Deliver publishes every activity of d without waiting, then waits for
// all their PubAcks, or for ctx.
func (n *natsDestination) Deliver(ctx context.Context, d Delivery) error {
	if err := ctx.Err(); err != nil {
		return n.errorf("%w", err)
	}
	if err := n.connect(ctx); err != nil {
		return n.errorf("connect: %w", err)
	}
	acks, err := n.publish(d)
	if err != nil {
		return err
	}
	return n.await(ctx, d, acks)
}

// connect connects unless a connection is open or reconnecting.
func (n *natsDestination) connect(ctx context.Context) error {
	if n.nc != nil && !n.nc.IsClosed() {
		return nil
	}
	nc, err := nats.Connect(n.dialURL, nats.Name("auditlog"), nats.Timeout(connectTimeout(ctx)))
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return err
	}
	n.nc, n.js = nc, js
	return nil
}

// connectTimeout is dialTimeout, or less when ctx ends sooner.
func connectTimeout(ctx context.Context) time.Duration {
	deadline, ok := ctx.Deadline()
	if !ok {
		return dialTimeout
	}
	return max(min(dialTimeout, time.Until(deadline)), time.Millisecond)
}

// publish sends the activities of d, returning their PubAck futures.
func (n *natsDestination) publish(d Delivery) ([]jetstream.PubAckFuture, error) {
	acks := make([]jetstream.PubAckFuture, len(d.Activities))
	for i, a := range d.Activities {
		ack, err := n.js.PublishAsync(n.subject(a), d.Payloads[i], jetstream.WithMsgID(n.msgID(a)))
		if err != nil {
			return nil, n.errorf("publish activity %d to %s: %w", a.ID, n.subject(a), err)
		}
		acks[i] = ack
	}
	return acks, nil
}

// await waits for the PubAck of every activity of d.
func (n *natsDestination) await(ctx context.Context, d Delivery, acks []jetstream.PubAckFuture) error {
	for i, ack := range acks {
		select {
		case <-ack.Ok():
		case err := <-ack.Err():
			a := d.Activities[i]
			return n.errorf("activity %d on %s not acknowledged: %w", a.ID, n.subject(a), err)
		case <-ctx.Done():
			return n.errorf("%d of %d activities not acknowledged: %w", len(acks)-i, len(acks), ctx.Err())
		}
	}
	return nil
}

// subject is the subject activity a is published on.
func (n *natsDestination) subject(a auditlog.Activity) string {
	return n.prefix + "." + a.SystemName
}

// msgID is the Nats-Msg-Id of activity a.
func (n *natsDestination) msgID(a auditlog.Activity) string {
	return n.origin + "/" + strconv.FormatInt(a.ID, 10)
}

// errorf is an error naming the destination.
func (n *natsDestination) errorf(format string, args ...any) error {
	return fmt.Errorf("nats destination %s: %w", n.url, fmt.Errorf(format, args...))
}

// Close closes the connection, dropping what it has not sent.
func (n *natsDestination) Close() error {
	if n.nc != nil {
		n.nc.Close()
	}
	return nil
}
