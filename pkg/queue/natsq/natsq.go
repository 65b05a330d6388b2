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
	"slices"
	"strconv"
	"strings"
	"sync"
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

// dialError says what went wrong connecting to url, wrapping
// queue.ErrRefused or queue.ErrTLS when the configuration is at fault. env
// is the prefix of the tool's environment variables (PQUEUE_).
func dialError(url, env string, err error) error {
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	msg := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
		strings.Contains(msg, "authorization violation") || strings.Contains(msg, "authentication"):
		return fmt.Errorf("%s: %w (check --token/$%sTOKEN, --user/--password, --creds): %w", url, queue.ErrRefused, env, err)
	case errors.Is(err, nats.ErrTLS) || errors.As(err, &verify) || errors.As(err, &alert) || errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrClientCertOrRootCAsRequired) ||
		strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:") || strings.Contains(msg, "rootca") ||
		strings.Contains(msg, "certificate"):
		return fmt.Errorf("%s: %w (check --tls-ca, --tls-cert and --tls-key): %w", url, queue.ErrTLS, err)
	}
	return fmt.Errorf("connect %s: %w", url, err)
}

// Backend is a JetStream account seen as a namespace of queues.
type Backend struct {
	nc *nats.Conn
	js jetstream.JetStream
}

// Dial connects to the server at url (nats://host:port, comma separated for
// a cluster). Refused credentials fail with an error that says so.
func Dial(url string, auth queue.Auth) (*Backend, error) {
	return DialWith(url, auth, "pqueue", "PQUEUE_", func(nc *nats.Conn) (*Backend, error) {
		js, err := jetstream.New(nc)
		return &Backend{nc: nc, js: js}, err
	})
}

// DialWith connects as Connect does and opens a client of the connection
// with open, closing the connection if open fails: how pqueue and pshm
// open their stores.
func DialWith[T any](url string, auth queue.Auth, client, env string, open func(*nats.Conn) (T, error)) (T, error) {
	var zero T
	nc, err := Connect(url, auth, client, env)
	if err != nil {
		return zero, err
	}
	t, err := open(nc)
	if err != nil {
		nc.Close()
		return zero, err
	}
	return t, nil
}

// Connect connects the tool client (pqueue, pshm) to the server at url
// with auth, reconnecting for ever when the connection drops. Refused
// credentials and TLS failures wrap queue.ErrRefused and queue.ErrTLS, with
// a hint naming the tool's flags and environment variables (prefix env).
func Connect(url string, auth queue.Auth, client, env string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(client), nats.Timeout(5 * time.Second), nats.MaxReconnects(-1)}
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
		return nil, dialError(url, env, err)
	}
	return nc, nil
}

// Open is Dial as a location.Dialer: how ppool and pqueue-nats reach --url.
func Open(url string, auth queue.Auth) (queue.Backend, error) {
	b, err := Dial(url, auth)
	if err != nil {
		return nil, err // not a nil *Backend in a non-nil interface
	}
	return b, nil
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
	return b.attach(ctx, name, cfg, st, true)
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
	return b.attach(ctx, name, cfg, st, false)
}

// Ensure implements queue.Backend.
func (b *Backend) Ensure(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	q, err := b.Open(ctx, name)
	if errors.Is(err, queue.ErrNotFound) {
		return b.Create(ctx, name, cfg)
	}
	return q, err
}

func consumerConfig(cfg queue.Config) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       consumer,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.LeaseOrDefault(),
		MaxAckPending: -1,
		MaxDeliver:    -1,
	}
}

// attach makes the Queue of an open stream. The consumer is looked up only
// when needed (a put needs none), except for a new stream, which gets it
// at once.
func (b *Backend) attach(ctx context.Context, name string, cfg queue.Config, st jetstream.Stream, created bool) (*Queue, error) {
	q := &Queue{b: b, name: name, cfg: cfg, st: st, subj: subject(name)}
	if created {
		cons, err := st.CreateOrUpdateConsumer(ctx, consumerConfig(cfg))
		if err != nil {
			return nil, fmt.Errorf("queue %s: consumer: %w", name, err)
		}
		q.cons = cons
	}
	return q, nil
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
	subj string

	mu   sync.Mutex
	cons jetstream.Consumer // nil until consumer() looks it up
}

// consumer returns the queue's consumer, looking it up on first use (and
// making it again if it is missing).
func (q *Queue) consumer(ctx context.Context) (jetstream.Consumer, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.cons != nil {
		return q.cons, nil
	}
	cons, err := q.st.Consumer(ctx, consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		cons, err = q.st.CreateOrUpdateConsumer(ctx, consumerConfig(q.cfg))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("queue %s: consumer: %w", q.name, err)
	}
	q.cons = cons
	return cons, nil
}

// Name implements queue.Queue.
func (q *Queue) Name() string { return q.name }

// Config implements queue.Queue.
func (q *Queue) Config() queue.Config { return q.cfg }

// putWindow bounds the publishes of a put into an unbounded queue that
// await their acknowledgement at once: enough to keep the server busy,
// and well below the client's own bound on pending publishes (4000 per
// Backend), past which publishing stalls.
const putWindow = 1024

// noRetry stops the client from publishing again by itself an item the
// stream did not answer for: it would land after the items sent since.
var noRetry = jetstream.WithRetryAttempts(0)

// pubWait bounds the wait for one publish's acknowledgement when the
// caller's context has no deadline, as jetstream.Publish does.
const pubWait = 5 * time.Second

// Put implements queue.Queue. Into an unbounded queue items are pipelined
// (see putPipelined); into a bounded one they are published one at a time,
// so that a full queue stops the batch exactly after items[:n]: pipelined,
// an item refused as full could be followed by one stored because a done
// made room meanwhile.
func (q *Queue) Put(ctx context.Context, items [][]byte, noWait bool) (int, error) {
	if q.cfg.MaxSize > 0 {
		return q.putEach(ctx, items, noWait)
	}
	return q.putPipelined(ctx, items, noWait)
}

// putPipelined publishes the items without waiting for each
// acknowledgement, up to putWindow at a time, and returns once every one
// is acknowledged (stored). The stream stores a connection's publishes in
// the order sent, so the items keep theirs. On a failure the publishes in
// flight are still waited for. If the server refused the item for sure and
// stored none after it, or if items could not be sent at all (one too
// large, say), the rest go through putEach, which retries what can be
// retried and reports exactly how far it got. Otherwise (the connection
// broke, say: whether the item was stored is unknown, as with a single
// publish) items[:n] are stored and the error counts the later items
// stored too.
func (q *Queue) putPipelined(ctx context.Context, items [][]byte, noWait bool) (int, error) {
	var ring [putWindow]jetstream.PubAckFuture
	var timer *time.Timer // pubWait, when ctx has no deadline
	if _, ok := ctx.Deadline(); !ok {
		timer = time.NewTimer(pubWait)
		defer timer.Stop()
	}
	n, sent := 0, 0  // items[:n] acknowledged, items[:sent] published
	var failed error // items[n]'s publish, when it failed
	for sent < len(items) && len(items[sent]) <= queue.MaxItemSize {
		if sent-n == putWindow {
			// Drained by half, so that the publisher sleeps once per half
			// window rather than once per item.
			for ; sent-n > putWindow/2; n++ {
				if failed = await(ctx, ring[n%putWindow], timer); failed != nil {
					break
				}
			}
			if failed != nil {
				break
			}
		}
		f, err := q.b.js.PublishAsync(q.subj, items[sent], noRetry)
		if err != nil {
			break
		}
		ring[sent%putWindow] = f
		sent++
	}
	stored := 0 // items after the failed one stored nonetheless
	for i := n; i < sent; i++ {
		if failed != nil && i == n {
			continue
		}
		err := await(ctx, ring[i%putWindow], timer)
		switch {
		case failed != nil:
			if err == nil {
				stored++
			}
		case err != nil:
			failed = err
		default:
			n++
		}
	}
	var apiErr *jetstream.APIError
	if failed == nil || stored == 0 && (errors.As(failed, &apiErr) || errors.Is(failed, jetstream.ErrNoStreamResponse)) {
		if n == len(items) {
			return n, nil
		}
		m, err := q.putEach(ctx, items[n:], noWait)
		return n + m, err
	}
	if ctx.Err() != nil {
		return n, ctx.Err()
	}
	if stored > 0 {
		return n, fmt.Errorf("queue %s: put: %w (and %d items after it were stored)", q.name, failed, stored)
	}
	return n, fmt.Errorf("queue %s: put: %w", q.name, failed)
}

// await waits for a publish's acknowledgement, at most pubWait if timer is
// set.
func await(ctx context.Context, f jetstream.PubAckFuture, timer *time.Timer) error {
	select {
	case <-f.Ok(): // usually, once the window is full: no timer to reset
		return nil
	default:
	}
	var expire <-chan time.Time
	if timer != nil {
		timer.Reset(pubWait)
		expire = timer.C
	}
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-expire:
		return fmt.Errorf("no acknowledgement within %s: %w", pubWait, context.DeadlineExceeded)
	}
}

// putEach publishes items one at a time, waiting while the queue is full.
func (q *Queue) putEach(ctx context.Context, items [][]byte, noWait bool) (int, error) {
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
	cons, err := q.consumer(ctx)
	if err != nil {
		return nil, err
	}
	for {
		var batch jetstream.MessageBatch
		var err error
		if opt.NoWait {
			batch, err = cons.FetchNoWait(max)
		} else {
			// Fetch(max) would wait for max items; ask for what is ready,
			// and only when nothing is, wait for a single item.
			batch, err = cons.FetchNoWait(max)
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
				batch, err = cons.Fetch(1, jetstream.FetchMaxWait(wait))
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
	var acks []string   // auto-acknowledged items' ack subjects, in items' order
	var leases []string // leased items' ack subjects, when opt.Lease is not the queue's
	setLeases := !q.ownLease(opt.Lease)
	for m := range batch.Messages() {
		it, ok, err := q.deliver(ctx, m, opt)
		if err != nil {
			// Nothing of the batch is handed out; what it leased comes
			// back when the lease expires.
			return nil, err
		}
		if ok {
			items = append(items, it)
			switch {
			case it.ID == "":
				acks = append(acks, m.Reply())
			case setLeases:
				leases = append(leases, m.Reply())
			}
		}
	}
	if len(leases) > 0 {
		// Leased for the queue's lease by the fetch: set the one asked
		// for before handing the items out.
		if err := q.b.confirmAll(ctx, leases, q.leaseBody(opt.Lease)); err != nil {
			return nil, fmt.Errorf("queue %s: get: set leases: %w", q.name, err)
		}
	}
	if len(acks) > 0 {
		// An auto-ack get returns items only once they are gone from the
		// queue: the whole batch is acknowledged in one round trip and
		// confirmed before any item is handed out.
		if err := q.b.confirmAll(ctx, acks, ackBody); err != nil {
			return nil, fmt.Errorf("queue %s: get: %w", q.name, err)
		}
	}
	return items, nil
}

// deliver turns a fetched message into an item: dead-letters it past
// MaxDeliveries; an auto-ack get's item is acknowledged by deliverAll.
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
	if opt.Lease != 0 {
		it.ID = strings.TrimPrefix(m.Reply(), ackPrefix)
	}
	return it, true, nil
}

// Lease operations: the bodies JetStream understands on an ack subject.
var (
	ackBody      = []byte("+ACK")
	progressBody = []byte("+WPI")
)

// confirmWait bounds the wait for a batch's confirmation when the caller's
// context has no deadline (a server that lost it while reconnecting must
// not hang pqueue done for ever).
const confirmWait = 30 * time.Second

// errUnconfirmed reports lease operations the server did not confirm in
// time: they may or may not have taken effect.
var errUnconfirmed = errors.New("not confirmed by the server")

// confirmAll sends body to every subject, ack subjects of one consumer,
// and returns once the server has applied every operation. Only the last
// is sent as a request: nats-server hands a consumer's ack messages, in
// the order a connection sent them, to a queue that a single goroutine
// applies in order, answering each request when it is applied; so its
// answer to the last proves the ones before it applied too, and a batch
// costs one round trip and one answer whatever its size. Messages written
// on a connection that broke before the answer may never have reached
// the server: if the client reconnected meanwhile, the batch is sent
// again (only acks come in batches, and acking an item already
// acknowledged changes nothing).
func (b *Backend) confirmAll(ctx context.Context, subjects []string, body []byte) error {
	wait := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wait, cancel = context.WithTimeout(ctx, confirmWait)
		defer cancel()
	}
	last := len(subjects) - 1
	for {
		reconnects := b.nc.Stats().Reconnects
		for _, subj := range subjects[:last] {
			if err := b.nc.Publish(subj, body); err != nil {
				return err
			}
		}
		if _, err := b.nc.RequestWithContext(wait, subjects[last], body); err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case wait.Err() != nil:
				return fmt.Errorf("%w within %s", errUnconfirmed, confirmWait)
			}
			return err
		}
		if last == 0 || b.nc.Stats().Reconnects == reconnects {
			return nil
		}
	}
}

// lease is a parsed lease ID: the ack subject of one delivery.
type lease struct {
	id     string // the ack subject
	stream string
	cons   string
	seq    uint64 // stream sequence of the item
}

// ackPrefix begins every ack subject. A lease ID is the subject without
// it, so that IDs are words a shell passes on as they are ("$JS" would be
// expanded by a shell that re-parses a command line); the whole subject
// is accepted too.
const ackPrefix = "$JS.ACK."

// parseLease parses a lease ID, the ack subject
// $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending> or,
// from newer servers, $JS.ACK.<domain>.<account hash>.<stream>.<consumer>.
// <delivered>.<sseq>.<cseq>.<ts>.<pending>[.<token>], with or without its
// $JS.ACK. prefix.
func parseLease(id string) (lease, bool) {
	if !strings.HasPrefix(id, ackPrefix) {
		id = ackPrefix + id
	}
	tok := strings.Split(id, ".")
	if len(tok) < 9 || len(tok) == 10 {
		return lease{}, false
	}
	off := 2
	if len(tok) > 9 {
		off = 4
	}
	seq, err := strconv.ParseUint(tok[off+3], 10, 64)
	if err != nil || seq == 0 {
		return lease{}, false
	}
	return lease{id: id, stream: tok[off], cons: tok[off+1], seq: seq}, true
}

// infos returns the stream's and the consumer's state, asked for
// concurrently (one round trip).
func (q *Queue) infos(ctx context.Context) (*jetstream.StreamInfo, *jetstream.ConsumerInfo, error) {
	cons, err := q.consumer(ctx)
	if err != nil {
		return nil, nil, err
	}
	var ci *jetstream.ConsumerInfo
	var cerr error
	var wg sync.WaitGroup
	wg.Go(func() { ci, cerr = cons.Info(ctx) })
	si, err := q.st.Info(ctx)
	wg.Wait()
	return si, ci, errors.Join(err, cerr)
}

// maxDeletedDetails bounds the holes held() asks the server to list;
// past it, or when the list would be long for the few items asked about,
// the items are looked up one by one.
var maxDeletedDetails = 16384

// held reports which of the leases (parsed, of this queue's consumer) are
// still held: the item was delivered by the consumer and not done since.
// The consumer's info answers for the whole batch: held items lie past its
// ack floor, up to the last item it delivered, and when they fill that
// range (no item done out of order, the usual case) that is all. Otherwise
// done items in the range are told from leased ones by the work-queue
// stream, which a done item is gone from: by its list of holes, or for a
// few items or very many holes by a look-up of each item, pipelined.
func (q *Queue) held(ctx context.Context, ls []lease) ([]bool, error) {
	cons, err := q.consumer(ctx)
	if err != nil {
		return nil, err
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	floor, last := ci.AckFloor.Stream, ci.Delivered.Stream
	ok := make([]bool, len(ls))
	var unsure []int // in the range, which has holes
	for i, l := range ls {
		// A sequence the consumer has not delivered yet cannot be leased
		// (and the server would not even answer an ack for it).
		ok[i] = l.seq > floor && l.seq <= last
		if ok[i] {
			unsure = append(unsure, i)
		}
	}
	holes := int64(last) - int64(floor) - int64(ci.NumAckPending)
	if holes == 0 || len(unsure) == 0 {
		return ok, nil
	}
	if holes <= int64(maxDeletedDetails) && holes <= 64*int64(len(unsure)) {
		si, err := q.st.Info(ctx, jetstream.WithDeletedDetails(true))
		if err != nil {
			return nil, err
		}
		deleted := si.State.Deleted
		slices.Sort(deleted)
		for _, i := range unsure {
			_, gone := slices.BinarySearch(deleted, ls[i].seq)
			ok[i] = !gone && ls[i].seq >= si.State.FirstSeq && ls[i].seq <= si.State.LastSeq
		}
		return ok, nil
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 64)
	for _, i := range unsure {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := q.st.GetMsg(ctx, ls[i].seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				ok[i] = false
			} else if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return ok, errors.Join(errs...)
}

// leaseOp applies a lease operation (ack, nak, progress) to every id and
// waits for the server to confirm them. IDs that are not lease IDs fail
// with ErrBadLease, leases of another queue, or whose item is no longer
// leased, with ErrUnknownLease; the others are applied. The check is one look at the queue's state for the
// whole batch and the operations are sent back to back and confirmed at
// once (see confirmAll), so a batch costs a few round trips however many
// IDs it holds.
func (q *Queue) leaseOp(ctx context.Context, ids []string, body []byte) error {
	var unknown, bad []string
	var ls []lease
	seen := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		l, ok := parseLease(id)
		if !ok {
			bad = append(bad, id)
			continue
		}
		if l.stream != streamName(q.name) || l.cons != consumer || seen[l.seq] {
			// The same item twice in one call: like two calls in a row,
			// the second finds the lease no longer held.
			unknown = append(unknown, id)
			continue
		}
		seen[l.seq] = true
		ls = append(ls, l)
	}
	var subjects []string
	if len(ls) > 0 {
		ok, err := q.held(ctx, ls)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("queue %s: %w", q.name, err)
		}
		for i, l := range ls {
			if ok[i] {
				subjects = append(subjects, l.id)
			} else {
				unknown = append(unknown, strings.TrimPrefix(l.id, ackPrefix))
			}
		}
	}
	var errs []error
	if len(subjects) > 0 {
		if err := q.b.confirmAll(ctx, subjects, body); err != nil {
			errs = append(errs, fmt.Errorf("queue %s: %d lease operations not confirmed: %w", q.name, len(subjects), err))
		}
	}
	if len(bad) > 0 {
		errs = append(errs, fmt.Errorf("queue %s: lease %s: %w", q.name, bad[0], queue.ErrBadLease))
	}
	switch len(unknown) {
	case 0:
	case 1:
		errs = append(errs, fmt.Errorf("queue %s: lease %s: %w", q.name, unknown[0], queue.ErrUnknownLease))
	default:
		errs = append(errs, fmt.Errorf("queue %s: %d leases (first %s): %w", q.name, len(unknown), unknown[0], queue.ErrUnknownLease))
	}
	return errors.Join(errs...)
}

// Done implements queue.Queue: one batch check, one batch of
// acknowledgements, and it returns only once the server has confirmed
// applying every one (an item reported done is gone for good).
func (q *Queue) Done(ctx context.Context, ids ...string) error {
	return q.leaseOp(ctx, ids, ackBody)
}

// Nack implements queue.Queue.
func (q *Queue) Nack(ctx context.Context, id string, delay time.Duration) error {
	body := []byte("-NAK")
	if delay > 0 {
		body = nakAfter(delay)
	}
	return q.leaseOp(ctx, []string{id}, body)
}

// Extend implements queue.Queue: the item is due again d from now.
func (q *Queue) Extend(ctx context.Context, id string, d time.Duration) error {
	return q.leaseOp(ctx, []string{id}, q.leaseBody(d))
}

// Attach implements queue.Queue. A JetStream lease ends only by expiry
// (the consumer's AckWait, renewed by pqueue get --exec while its command
// runs), never by its holder's death, so there is nothing to record: when
// pqueue dies its renewals stop, and its watchdog stops the command's
// group within the grace period, before the lease runs out as long as the
// grace is shorter than the lease. The ID is only checked for form.
func (q *Queue) Attach(ctx context.Context, id string, pgid int) error {
	l, ok := parseLease(id)
	if !ok {
		return fmt.Errorf("queue %s: lease %s: %w", q.name, id, queue.ErrBadLease)
	}
	if l.stream != streamName(q.name) || l.cons != consumer {
		return fmt.Errorf("queue %s: lease %s: %w", q.name, id, queue.ErrUnknownLease)
	}
	return nil
}

// leaseBody is the ack-subject body that makes an item's lease end d from
// now. JetStream's lease is the consumer's AckWait (the queue's lease),
// which a progress message renews; another length is set by a delayed
// NAK, which leaves the item leased (its ID still settles it) and due for
// redelivery when the delay is over.
func (q *Queue) leaseBody(d time.Duration) []byte {
	if q.ownLease(d) {
		return progressBody
	}
	return nakAfter(d)
}

// ownLease reports whether asking for lease d gets the queue's own lease,
// the consumer's AckWait.
func (q *Queue) ownLease(d time.Duration) bool { return q.cfg.LeaseFor(d) == q.cfg.LeaseOrDefault() }

// nakAfter is the body of a NAK that redelivers the item after d.
func nakAfter(d time.Duration) []byte { return fmt.Appendf(nil, `-NAK {"delay": %d}`, d.Nanoseconds()) }

// Stats implements queue.Queue.
func (q *Queue) Stats(ctx context.Context) (queue.Stats, error) {
	si, ci, err := q.infos(ctx)
	if err != nil {
		return queue.Stats{}, fmt.Errorf("queue %s: %w", q.name, err)
	}
	st := queue.Stats{
		Leased:    int64(ci.NumAckPending),
		Ready:     int64(si.State.Msgs) - int64(ci.NumAckPending),
		Delivered: int64(ci.Delivered.Consumer),
		MaxSize:   q.cfg.MaxSize,
		// The server counts redelivered items but keeps no maximum.
		Redelivered: int64(ci.NumRedelivered),
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
// not delivered, so they stay), acknowledging each fetched batch at once.
func (q *Queue) Purge(ctx context.Context) (int64, error) {
	cons, err := q.consumer(ctx)
	if err != nil {
		return 0, err
	}
	var n int64
	for {
		batch, err := cons.FetchNoWait(256)
		if err != nil {
			return n, fmt.Errorf("queue %s: purge: %w", q.name, err)
		}
		var acks []string
		for m := range batch.Messages() {
			acks = append(acks, m.Reply())
		}
		if len(acks) == 0 {
			return n, nil
		}
		if err := q.b.confirmAll(ctx, acks, ackBody); err != nil {
			return n, fmt.Errorf("queue %s: purge: %w", q.name, err)
		}
		n += int64(len(acks))
	}
}

// Close implements queue.Queue.
func (q *Queue) Close() error { return nil }
