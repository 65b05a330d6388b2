// Package natsq is the NATS JetStream backend of pkg/queue: queues shared by
// workers on many machines through a pqueued (or any JetStream) server.
//
// Each queue is one stream with work-queue retention holding the items not
// yet done (subject pkit.q.<hex name>, MaxMsgs = MaxSize with DiscardNew,
// so a put into a full queue is refused and retried) and one durable pull
// consumer with explicit acknowledgement whose AckWait is the lease. The
// queue's name and Config live in the stream's metadata. Dead-lettering is
// done by the client: an item delivered more than MaxDeliveries times is
// republished to NAME.dead and terminated, so it is never lost.
package natsq

import (
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pkit-sh/pkit/pkg/queue"
)

const (
	metaName   = "pkit.name"
	metaConfig = "pkit.config"
	consumer   = "pkit"
	// errMaxMsgs is JetStream's error code for a put refused by MaxMsgs
	// with DiscardNew (JSStreamStoreFailedF "maximum messages exceeded").
	errMaxMsgs = 10077
)

// Errors of Dial that a retry will not fix: the server refused the
// credentials, or TLS could not be set up (an untrusted server certificate,
// a client certificate required or refused, unreadable PEM files).
var (
	ErrRefused = errors.New("credentials refused")
	ErrTLS     = errors.New("TLS failed")
)

// dialError says what went wrong connecting to url, wrapping ErrRefused or
// ErrTLS when the configuration is at fault.
func dialError(url string, err error) error {
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
		strings.Contains(msg, "authorization violation") || strings.Contains(msg, "authentication"):
		return fmt.Errorf("%s: %w (check --token/$PQUEUE_TOKEN, --user/--password, --creds): %w", url, ErrRefused, err)
	case errors.Is(err, nats.ErrTLS) || errors.As(err, &verify) || errors.As(err, &alert) || errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrClientCertOrRootCAsRequired) ||
		strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") || strings.Contains(msg, "rootca") ||
		strings.Contains(msg, "certificate"):
		return fmt.Errorf("%s: %w (check --tls-ca, --tls-cert and --tls-key): %w", url, ErrTLS, err)
	}
	return fmt.Errorf("connect %s: %w", url, err)
}

// Auth holds a client's credentials.
type Auth struct {
	Token    string
	User     string
	Password string
	Creds    string // NATS .creds file (JWT + NKey)
	TLSCA    string // CA to verify the server with
	TLSCert  string // client certificate, with TLSKey
	TLSKey   string
}

// Backend is a JetStream account seen as a namespace of queues.
type Backend struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Dial connects to the server at url (nats://host:port, comma separated for
// a cluster). Refused credentials fail with an error that says so.
func Dial(url string, auth Auth) (*Backend, error) {
	opts := []nats.Option{nats.Name("pqueue"), nats.Timeout(5 * time.Second), nats.MaxReconnects(-1)}
	if auth.Token != "" {
		opts = append(opts, nats.Token(auth.Token))
	}
	if auth.User != "" {
		opts = append(opts, nats.UserInfo(auth.User, auth.Password))
	}
	if auth.Creds != "" {
		opts = append(opts, nats.UserCredentials(auth.Creds))
	}
	if auth.TLSCA != "" {
		opts = append(opts, nats.RootCAs(auth.TLSCA))
	}
	if auth.TLSCert != "" {
		opts = append(opts, nats.ClientCert(auth.TLSCert, auth.TLSKey))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, dialError(url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Backend{nc: nc, js: js}, nil
}

// Conn exposes the connection (for benchmarks comparing with raw JetStream).
func (b *Backend) Conn() *nats.Conn { return b.nc }

func streamName(name string) string { return "PQ_" + hex.EncodeToString([]byte(name)) }
func subject(name string) string    { return "pkit.q." + hex.EncodeToString([]byte(name)) }

func validName(name string) error {
	if name == "" || len(name) > 200 || strings.HasPrefix(name, ".") || strings.ContainsAny(name, " \t\n\r/\x00") {
		return fmt.Errorf("%w: %q", queue.ErrBadName, name)
	}
	return nil
}

func (b *Backend) streamConfig(name string, cfg queue.Config) (jetstream.StreamConfig, error) {
	meta, err := json.Marshal(cfg)
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	sc := jetstream.StreamConfig{
		Name:       streamName(name),
		Subjects:   []string{subject(name)},
		Retention:  jetstream.WorkQueuePolicy,
		Discard:    jetstream.DiscardNew,
		Storage:    jetstream.FileStorage,
		MaxMsgs:    -1,
		MaxMsgSize: queue.MaxItemSize,
		Metadata:   map[string]string{metaName: name, metaConfig: string(meta)},
	}
	if cfg.MaxSize > 0 {
		sc.MaxMsgs = cfg.MaxSize
	}
	return sc, nil
}

// Create implements queue.Backend.
func (b *Backend) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	sc, err := b.streamConfig(name, cfg)
	if err != nil {
		return nil, err
	}
	st, err := b.js.CreateStream(ctx, sc)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		q, oerr := b.Open(ctx, name)
		if oerr != nil {
			return nil, oerr
		}
		if q.Config() != cfg {
			return nil, fmt.Errorf("queue %s: %w", name, queue.ErrExists)
		}
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create queue %s: %w", name, err)
	}
	return b.attach(ctx, name, cfg, st)
}

// Open implements queue.Backend.
func (b *Backend) Open(ctx context.Context, name string) (queue.Queue, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	st, err := b.js.Stream(ctx, streamName(name))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("queue %s: %w", name, queue.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", name, err)
	}
	var cfg queue.Config
	if err := json.Unmarshal([]byte(st.CachedInfo().Config.Metadata[metaConfig]), &cfg); err != nil {
		return nil, fmt.Errorf("queue %s: stream not made by pqueue: %w", name, queue.ErrCorrupt)
	}
	return b.attach(ctx, name, cfg, st)
}

// Ensure implements queue.Backend.
func (b *Backend) Ensure(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	q, err := b.Open(ctx, name)
	if errors.Is(err, queue.ErrNotFound) {
		return b.Create(ctx, name, cfg)
	}
	return q, err
}

func (b *Backend) attach(ctx context.Context, name string, cfg queue.Config, st jetstream.Stream) (*Queue, error) {
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.LeaseOrDefault(),
		MaxAckPending: -1,
		MaxDeliver:    -1,
	})
	if err != nil {
		return nil, fmt.Errorf("queue %s: consumer: %w", name, err)
	}
	return &Queue{b: b, name: name, cfg: cfg, st: st, cons: cons, subj: subject(name)}, nil
}

// Remove implements queue.Backend.
func (b *Backend) Remove(ctx context.Context, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	err := b.js.DeleteStream(ctx, streamName(name))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("queue %s: %w", name, queue.ErrNotFound)
	}
	return err
}

// List implements queue.Backend.
func (b *Backend) List(ctx context.Context) ([]string, error) {
	var names []string
	l := b.js.ListStreams(ctx)
	for si := range l.Info() {
		if n, ok := si.Config.Metadata[metaName]; ok {
			names = append(names, n)
		}
	}
	if err := l.Err(); err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// Close implements queue.Backend.
func (b *Backend) Close() error {
	b.nc.Close()
	return nil
}

// Queue is one JetStream-backed queue.
type Queue struct {
	b    *Backend
	name string
	cfg  queue.Config
	st   jetstream.Stream
	cons jetstream.Consumer
	subj string
}

// Name implements queue.Queue.
func (q *Queue) Name() string { return q.name }

// Config implements queue.Queue.
func (q *Queue) Config() queue.Config { return q.cfg }

// Put implements queue.Queue. Items are published one at a time so that a
// full queue stops the batch exactly after items[:n].
func (q *Queue) Put(ctx context.Context, items [][]byte, noWait bool) (int, error) {
	for n, it := range items {
		if len(it) > queue.MaxItemSize {
			return n, fmt.Errorf("queue %s: %d bytes: %w", q.name, len(it), queue.ErrTooLarge)
		}
		backoff := 5 * time.Millisecond
		for {
			_, err := q.b.js.Publish(ctx, q.subj, it)
			if err == nil {
				break
			}
			var apiErr *jetstream.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode != errMaxMsgs {
				if ctx.Err() != nil {
					return n, ctx.Err()
				}
				return n, fmt.Errorf("queue %s: put: %w", q.name, err)
			}
			if noWait {
				return n, fmt.Errorf("queue %s: %w", q.name, queue.ErrFull)
			}
			select {
			case <-ctx.Done():
				return n, ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 200*time.Millisecond)
		}
	}
	return len(items), nil
}

// Get implements queue.Queue.
func (q *Queue) Get(ctx context.Context, max int, opt queue.GetOptions) ([]queue.Item, error) {
	if max < 1 {
		max = 1
	}
	for {
		var batch jetstream.MessageBatch
		var err error
		if opt.NoWait {
			batch, err = q.cons.FetchNoWait(max)
		} else {
			// Fetch(max) would wait for max items; ask for what is ready,
			// and only when nothing is, wait for a single item.
			batch, err = q.cons.FetchNoWait(max)
			if err == nil {
				var items []queue.Item
				if items, err = q.deliverAll(ctx, batch, opt); err != nil || len(items) > 0 {
					return items, err
				}
				wait := 5 * time.Second
				if dl, ok := ctx.Deadline(); ok {
					wait = min(wait, time.Until(dl))
				}
				if wait < time.Millisecond {
					return nil, context.DeadlineExceeded
				}
				batch, err = q.cons.Fetch(1, jetstream.FetchMaxWait(wait))
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("queue %s: get: %w", q.name, err)
		}
		items, err := q.deliverAll(ctx, batch, opt)
		if err != nil || len(items) > 0 {
			return items, err
		}
		if opt.NoWait {
			return nil, fmt.Errorf("queue %s: %w", q.name, queue.ErrEmpty)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

func (q *Queue) deliverAll(ctx context.Context, batch jetstream.MessageBatch, opt queue.GetOptions) ([]queue.Item, error) {
	var items []queue.Item
	for m := range batch.Messages() {
		it, ok, err := q.deliver(ctx, m, opt)
		if err != nil {
			return items, err
		}
		if ok {
			items = append(items, it)
		}
	}
	return items, nil
}

// deliver turns a fetched message into an item: dead-letters it past
// MaxDeliveries, acknowledges it at once for auto-ack gets.
func (q *Queue) deliver(ctx context.Context, m jetstream.Msg, opt queue.GetOptions) (queue.Item, bool, error) {
	md, err := m.Metadata()
	if err != nil {
		return queue.Item{}, false, err
	}
	n := int(md.NumDelivered)
	if q.cfg.MaxDeliveries > 0 && n > q.cfg.MaxDeliveries {
		dead, err := q.b.Ensure(ctx, q.name+queue.DeadSuffix, queue.Config{})
		if err != nil {
			return queue.Item{}, false, err
		}
		if _, err := dead.Put(ctx, [][]byte{m.Data()}, false); err != nil {
			return queue.Item{}, false, err
		}
		return queue.Item{}, false, m.DoubleAck(ctx)
	}
	it := queue.Item{Data: m.Data(), Deliveries: n}
	if opt.Lease == 0 {
		return it, true, m.DoubleAck(ctx)
	}
	it.ID = m.Reply()
	return it, true, nil
}

// ack sends a lease operation for id and waits for the server's answer.
func (q *Queue) ack(ctx context.Context, id, body string) error {
	if !strings.HasPrefix(id, "$JS.ACK.") {
		return fmt.Errorf("queue %s: lease %q: %w", q.name, id, queue.ErrUnknownLease)
	}
	if !q.held(ctx, id) {
		return fmt.Errorf("queue %s: lease %s: %w", q.name, id, queue.ErrUnknownLease)
	}
	if _, err := q.b.nc.RequestWithContext(ctx, id, []byte(body)); err != nil {
		return fmt.Errorf("queue %s: %w", q.name, err)
	}
	return nil
}

// held reports whether the item behind lease id is still in the stream
// (done items are gone from a work queue).
func (q *Queue) held(ctx context.Context, id string) bool {
	seq, ok := streamSeq(id)
	if !ok {
		return false
	}
	_, err := q.st.GetMsg(ctx, seq)
	return err == nil
}

// streamSeq parses the stream sequence from an ack subject:
// $JS.ACK[.<domain>.<hash>].<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>.
func streamSeq(id string) (uint64, bool) {
	tok := strings.Split(id, ".")
	if len(tok) < 9 {
		return 0, false
	}
	seq, err := strconv.ParseUint(tok[len(tok)-4], 10, 64)
	return seq, err == nil
}

// Done implements queue.Queue.
func (q *Queue) Done(ctx context.Context, ids ...string) error {
	var errs []error
	for _, id := range ids {
		if err := q.ack(ctx, id, "+ACK"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Nack implements queue.Queue.
func (q *Queue) Nack(ctx context.Context, id string, delay time.Duration) error {
	body := "-NAK"
	if delay > 0 {
		body = fmt.Sprintf(`-NAK {"delay": %d}`, delay.Nanoseconds())
	}
	return q.ack(ctx, id, body)
}

// Extend implements queue.Queue. JetStream renews a lease by the
// consumer's AckWait (the queue's lease), whatever d is.
func (q *Queue) Extend(ctx context.Context, id string, d time.Duration) error {
	return q.ack(ctx, id, "+WPI")
}

// Stats implements queue.Queue.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	si, err := q.st.Info(ctx)
	if err != nil {
		return queue.Stats{}, fmt.Errorf("queue %s: %w", q.name, err)
	}
	ci, err := q.cons.Info(ctx)
	if err != nil {
		return queue.Stats{}, fmt.Errorf("queue %s: %w", q.name, err)
	}
	st := queue.Stats{
		Leased:    int64(ci.NumAckPending),
		Ready:     int64(si.State.Msgs) - int64(ci.NumAckPending),
		Delivered: int64(ci.Delivered.Consumer),
		MaxSize:   q.cfg.MaxSize,
		// The file store counts each message as 30 bytes of framing plus
		// its subject, headers (none) and payload; report payload only.
		Bytes: int64(si.State.Bytes) - int64(si.State.Msgs)*int64(30+len(q.subj)),
	}
	if dead, err := q.b.js.Stream(ctx, streamName(q.name+queue.DeadSuffix)); err == nil {
		st.Dead = int64(dead.CachedInfo().State.LastSeq)
	}
	st.Done = int64(si.State.LastSeq) - int64(si.State.Msgs) - st.Dead
	return st, nil
}

// Join implements queue.Queue.
func (q *Queue) Join(ctx context.Context) error {
	for {
		si, err := q.st.Info(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("queue %s: %w", q.name, err)
		}
		if si.State.Msgs == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Purge implements queue.Queue: it drains the ready items (leased ones are
// not delivered, so they stay).
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	var n int64
	for {
		batch, err := q.cons.FetchNoWait(256)
		if err != nil {
			return n, fmt.Errorf("queue %s: purge: %w", q.name, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if err := m.DoubleAck(ctx); err != nil {
				return n, fmt.Errorf("queue %s: purge: %w", q.name, err)
			}
			n++
		}
		if got == 0 {
			return n, nil
		}
	}
}

// Close implements queue.Queue.
func (q *Queue) Close() error { return nil }

// AuthFromEnv reads credentials from $PQUEUE_TOKEN, $PQUEUE_USER,
// $PQUEUE_PASSWORD, $PQUEUE_CREDS, $PQUEUE_TLS_CA, $PQUEUE_TLS_CERT and
// $PQUEUE_TLS_KEY.
func AuthFromEnv() Auth {
	return Auth{
		Token: os.Getenv("PQUEUE_TOKEN"), User: os.Getenv("PQUEUE_USER"), Password: os.Getenv("PQUEUE_PASSWORD"),
		Creds: os.Getenv("PQUEUE_CREDS"), TLSCA: os.Getenv("PQUEUE_TLS_CA"),
		TLSCert: os.Getenv("PQUEUE_TLS_CERT"), TLSKey: os.Getenv("PQUEUE_TLS_KEY"),
	}
}
