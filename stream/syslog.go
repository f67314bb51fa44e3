package stream

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/auditlog/auditlog"
)

// RFC 5424 header values of the syslog destination.
const (
	syslogFacilityAudit = 13 // log audit
	syslogSevNotice     = 5
	syslogSevInfo       = 6
	syslogMaxMsgID      = 32 // RFC 5424's limit on MSGID
	syslogSDID          = "auditlog@32473"
	syslogBufferSize    = 64 << 10
)

func init() { openers[TypeSyslog] = openSyslog }

// syslogDestination sends each activity as one RFC 5424 message, framed by
// octet counting (RFC 6587), over TCP or TLS (RFC 5425). A delivery is
// acknowledged once its messages are written and flushed. It keeps one
// connection across deliveries, dialling again on the next delivery after
// a write failed or the receiver closed it. Its Deliver and Close calls do
// not overlap.
type syslogDestination struct {
	url      string // scheme://host:port, for errors
	addr     string
	tls      *tls.Config // nil for tcp://
	hostname string
	conn     net.Conn
	w        *bufio.Writer
	gone     chan struct{} // closed when the receiver closes conn
	msg      []byte        // the message being framed
}

func openSyslog(cfg Config) (Destination, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "tls") || u.Hostname() == "" || u.Port() == "" {
		return nil, auditlog.FieldErrorf("url", "url must be tcp://host:port or tls://host:port")
	}
	s := &syslogDestination{url: u.Scheme + "://" + u.Host, addr: u.Host, hostname: syslogHostname()}
	if u.Scheme == "tls" {
		if s.tls, err = tlsConfig(cfg.CAPEM, u.Hostname()); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// syslogHostname is the HOSTNAME of the messages: the machine's, or "-"
// (RFC 5424's nil value) when it has none.
func syslogHostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "-"
	}
	return h
}

// Deliver writes a message for every activity of d and flushes them.
func (s *syslogDestination) Deliver(ctx context.Context, d Delivery) error {
	if err := ctx.Err(); err != nil {
		return s.errorf("%w", err)
	}
	if err := s.dial(ctx); err != nil {
		return s.errorf("dial: %w", err)
	}
	stop := s.watch(ctx)
	err := s.write(d)
	stop()
	if err != nil {
		s.hangUp()
		return s.errorf("write: %w", err)
	}
	return nil
}

// dial connects unless the connection is still open.
func (s *syslogDestination) dial(ctx context.Context) error {
	if s.conn != nil {
		select {
		case <-s.gone:
			s.hangUp()
		default:
			return nil
		}
	}
	dialer := &net.Dialer{Timeout: dialTimeout}
	var conn net.Conn
	var err error
	if s.tls != nil {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: s.tls}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return err
	}
	s.conn, s.w, s.gone = conn, bufio.NewWriterSize(conn, syslogBufferSize), make(chan struct{})
	go drain(conn, s.gone)
	return nil
}

// drain reads conn until it fails, then closes gone: a syslog receiver
// sends nothing, so that is the receiver closing the connection (or the
// destination hanging up).
func drain(conn net.Conn, gone chan<- struct{}) {
	io.Copy(io.Discard, conn)
	close(gone)
}

// watch makes writes fail at ctx's deadline or cancellation; the function
// it returns stops that.
func (s *syslogDestination) watch(ctx context.Context) (stop func()) {
	deadline, _ := ctx.Deadline() // the zero time, no deadline, without one
	s.conn.SetWriteDeadline(deadline)
	conn, cancelled := s.conn, make(chan struct{})
	stopCancel := context.AfterFunc(ctx, func() {
		conn.SetWriteDeadline(time.Now())
		close(cancelled)
	})
	return func() {
		if !stopCancel() {
			<-cancelled
		}
	}
}

// write writes and flushes the messages of d.
func (s *syslogDestination) write(d Delivery) error {
	for i, a := range d.Activities {
		s.msg = appendSyslogMessage(s.msg[:0], s.hostname, a, d.Payloads[i])
		// A bufio.Writer keeps its first error: checking the last write
		// of each frame checks them all.
		s.w.WriteString(strconv.Itoa(len(s.msg)))
		s.w.WriteByte(' ')
		if _, err := s.w.Write(s.msg); err != nil {
			return err
		}
	}
	return s.w.Flush()
}

// hangUp closes the connection, for the next delivery to dial again.
func (s *syslogDestination) hangUp() error {
	err := s.conn.Close()
	s.conn, s.w = nil, nil
	return err
}

// errorf is an error naming the destination.
func (s *syslogDestination) errorf(format string, args ...any) error {
	return fmt.Errorf("syslog destination %s: %w", s.url, fmt.Errorf(format, args...))
}

// Close closes the connection.
func (s *syslogDestination) Close() error {
	if s.conn == nil {
		return nil
	}
	return s.hangUp()
}

// appendSyslogMessage appends the RFC 5424 message of activity a, whose
// JSON is payload, to dst.
func appendSyslogMessage(dst []byte, hostname string, a auditlog.Activity, payload []byte) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, syslogFacilityAudit*8+syslogSeverity(a), 10)
	dst = append(dst, ">1 "...)
	dst = a.Created.UTC().AppendFormat(dst, auditlog.CreatedLayout)
	dst = append(dst, ' ')
	dst = append(dst, hostname...)
	dst = append(dst, " auditlog - "...)
	dst = append(dst, a.SystemName[:min(len(a.SystemName), syslogMaxMsgID)]...)
	dst = append(dst, " ["+syslogSDID...)
	dst = appendSDParam(dst, "id", strconv.FormatInt(a.ID, 10))
	dst = appendSDParam(dst, "operator", string(a.Operator))
	dst = appendSDParam(dst, "username", a.Username)
	dst = appendSDParam(dst, "object_type", a.ObjectType)
	dst = appendSDParam(dst, "object_id", a.ObjectID)
	dst = append(dst, "] "...)
	return append(dst, payload...)
}

// syslogSeverity is notice for a failed login, informational otherwise.
func syslogSeverity(a auditlog.Activity) int64 {
	if a.SystemName == "LOGIN_FAILED" {
		return syslogSevNotice
	}
	return syslogSevInfo
}

// appendSDParam appends ` name="value"`, escaping '"', '\' and ']' in
// value as RFC 5424 requires.
func appendSDParam(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, `="`...)
	for i := 0; i < len(value); i++ {
		if c := value[i]; c == '"' || c == '\\' || c == ']' {
			dst = append(dst, '\\')
		}
		dst = append(dst, value[i])
	}
	return append(dst, '"')
}
