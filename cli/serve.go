package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/server"
)

const serveUsage = `usage: chatstore serve [flags]

Serves the HTTP API (docs/SERVER.md) until SIGINT or SIGTERM, then stops
accepting connections, lets requests in flight finish, closes the store and
exits 0. SIGHUP reloads the tokens file; without one it is logged and
ignored. Every flag can also be set with the environment variable named in
its description; a flag on the command line wins.

Without --tokens-file anyone who can connect may read and delete every
history, so the server then refuses to listen on anything but a loopback
address unless --allow-unauthenticated is given.

examples:
  chatstore serve
  chatstore serve --store memory:// --addr 127.0.0.1:9000
  chatstore serve --store 'memory://?skip_system_messages=false&last_k=all'
  chatstore serve --store 'postgres://app@db.internal/chat?schema=chatstore' \
                  --addr :8080 --tokens-file /etc/chatstore/tokens
  CHATSTORE_STORE=sqlite:///var/lib/chatstore/chat.db chatstore serve

flags:
`

func runServe(ctx context.Context, env *Env, args []string) error {
	c, err := parseServe(env, args)
	if err != nil {
		return err
	}
	log, err := newLogger(env, c.logLevel, c.logFormat)
	if err != nil {
		return err
	}
	opts, err := c.serverOptions(log)
	if err != nil {
		return err
	}
	routeGoRedisLog(log) // a Redis store's client logs in the server's format
	// The store's write limit is the server's, so that --max-write-messages
	// is the one limit on a write, also above the store's default. A
	// negative one is left for server.New to refuse.
	storeOpts := &chatstore.Options{TTL: c.ttl}
	if opts.MaxWriteMessages > 0 {
		storeOpts.MaxWriteMessages = opts.MaxWriteMessages
	}
	store, err := chatstore.Open(ctx, c.storeURL, storeOpts)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(store, opts)
	if err != nil {
		return err
	}
	defer onHUP(srv, c.tokensFile, log)()
	stopSweeper := startSweeper(ctx, srv, c.sweepInterval, c.sweepMax)
	err = c.serve(ctx, env, srv, opts.Tokens, log)
	stopSweeper() // before the store closes
	if err != nil {
		return err
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	log.Info("stopped")
	return nil
}

// serveConfig is what serve's flags say.
type serveConfig struct {
	addr, storeURL, tokensFile, allowedHosts string
	allowUnauth                              bool
	maxHeader                                int
	headerTimeout, readTimeout, writeTimeout time.Duration
	idleTimeout, shutdownTimeout             time.Duration
	sweepInterval, ttl                       time.Duration
	sweepMax                                 int
	logLevel, logFormat                      string
	limits                                   server.Options // the server's limits only
}

// parseServe reads serve's flags, from the command line or else the
// environment.
func parseServe(env *Env, args []string) (*serveConfig, error) {
	c := &serveConfig{}
	f := newFlags(env, "serve", serveUsage)
	f.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address")
	f.StringVar(&c.storeURL, "store", DefaultStore, "store URL; Haystack's store options as query parameters, e.g. memory://?last_k=all")
	f.StringVar(&c.tokensFile, "tokens-file", "", "file of \"TENANT TOKEN\" lines; every /v1 request then needs a bearer token")
	f.BoolVar(&c.allowUnauth, "allow-unauthenticated", false, "listen on a non-loopback address without a tokens file")
	f.Int64Var(&c.limits.MaxBodyBytes, "max-body-bytes", server.DefaultMaxBodyBytes, "largest request body")
	f.IntVar(&c.limits.MaxWriteMessages, "max-write-messages", server.DefaultMaxWriteMessages, "most messages in one write (and in a context request's current_messages); the store's limit too")
	f.IntVar(&c.limits.MaxHistoryIDLen, "max-history-id-bytes", server.DefaultMaxHistoryIDLen, fmt.Sprintf("longest history id, at most %d", server.MaxHistoryIDLen))
	f.IntVar(&c.maxHeader, "max-header-bytes", 64<<10, "largest request header block")
	f.IntVar(&c.limits.MaxResponseBytes, "max-response-bytes", server.DefaultMaxResponseBytes, "largest answer; a read that selects more is refused with a hint to page")
	f.Int64Var(&c.limits.MaxInFlightBytes, "max-inflight-bytes", 0, "most bytes of request bodies and answers held at once, past which requests get 503 overloaded (0: 6 × --max-body-bytes, at least 3 × --max-response-bytes)")
	f.StringVar(&c.allowedHosts, "allowed-hosts", "", "without --tokens-file, comma-separated Host names served besides loopback ones (\"*\" for any), e.g. behind a reverse proxy")
	f.DurationVar(&c.limits.StoreTimeout, "store-timeout", server.DefaultStoreTimeout, "longest a store call may take before the request answers 503")
	f.DurationVar(&c.headerTimeout, "read-header-timeout", 5*time.Second, "time a client has to send the request headers")
	f.DurationVar(&c.readTimeout, "read-timeout", 30*time.Second, "time a client has to send a whole request")
	f.DurationVar(&c.writeTimeout, "write-timeout", 60*time.Second, "time to answer a request, from the end of its headers")
	f.DurationVar(&c.idleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long requests in flight get to finish at shutdown")
	f.Var((*ttlValue)(&c.ttl), "ttl", "default time to live of the histories, as the store URL's ttl= (30d, 24h, 90m; none), which it may not be given with")
	f.DurationVar(&c.sweepInterval, "sweep-interval", server.DefaultSweepInterval, "how often expired histories are removed, at most --sweep-max each time (0: never; they stay hidden from reads)")
	f.IntVar(&c.sweepMax, "sweep-max", server.DefaultSweepMax, "most expired histories removed per --sweep-interval")
	f.StringVar(&c.logLevel, "log-level", "info", "debug (one record per request), info, warn or error")
	f.StringVar(&c.logFormat, "log-format", "auto", "text, json, or auto: text on a terminal, JSON otherwise")
	f.VisitAll(func(fl *flag.Flag) { f.fromEnv(fl.Name) }) // every serve flag has its variable
	pos, err := f.parse(args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("%w: serve takes no arguments, got %q", ErrUsage, pos)
	}
	if u, err := url.Parse(c.storeURL); c.ttl != 0 && err == nil && u.Query().Has("ttl") {
		return nil, fmt.Errorf("%w: --ttl and the store URL's ttl= both give the default time to live; give one", ErrUsage)
	}
	if c.sweepInterval < 0 || c.sweepMax < 1 {
		return nil, fmt.Errorf("%w: --sweep-interval must be 0 (never) or more, and --sweep-max 1 or more, got %v and %d", ErrUsage, c.sweepInterval, c.sweepMax)
	}
	return c, nil
}

// serverOptions are the server's options: the limits, the tokens, and
// the Host names served, refusing a server without tokens on an address
// others can reach unless --allow-unauthenticated says so.
func (c *serveConfig) serverOptions(log *slog.Logger) (*server.Options, error) {
	opts := c.limits
	opts.Logger = log
	opts.Version = Version()
	for _, h := range strings.Split(c.allowedHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			opts.AllowedHosts = append(opts.AllowedHosts, h)
		}
	}
	if c.tokensFile != "" {
		var err error
		if opts.Tokens, err = server.LoadTokens(c.tokensFile); err != nil {
			return nil, err
		}
	}
	host, _, err := net.SplitHostPort(c.addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --addr %q: %v", ErrUsage, c.addr, err)
	}
	if opts.Tokens == nil && !isLoopback(host) {
		if !c.allowUnauth {
			return nil, fmt.Errorf("%w: refusing to serve %s without authentication: anyone who can connect could read and delete every history; give --tokens-file, listen on 127.0.0.1, or pass --allow-unauthenticated", ErrUsage, c.addr)
		}
		log.Warn("serving without authentication on a non-loopback address: anyone who can connect can read and delete every history", "addr", c.addr)
		if len(opts.AllowedHosts) == 0 {
			// Clients reach such a server by names the server cannot know,
			// and whoever can reach it may do anything anyway.
			opts.AllowedHosts = []string{"*"}
		}
	}
	return &opts, nil
}

// serve listens and serves srv until ctx is done, then lets the requests
// in flight finish, for up to --shutdown-timeout.
func (c *serveConfig) serve(ctx context.Context, env *Env, srv *server.Server, tokens *server.Tokens, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: c.headerTimeout,
		ReadTimeout:       c.readTimeout,
		WriteTimeout:      c.writeTimeout,
		IdleTimeout:       c.idleTimeout,
		MaxHeaderBytes:    c.maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ntokens := 0
	if tokens != nil {
		ntokens = tokens.Len()
	}
	log.Info("listening", "addr", ln.Addr().String(), "page", "http://"+ln.Addr().String()+"/", "store", redact(c.storeURL), "tokens", ntokens, "version", Version())
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(server.Listener(ln, c.maxHeader)) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "timeout", c.shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Error("shutdown did not finish in time; closing connections", "error", err)
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("server stopped with an error", "error", err)
	}
	return nil
}

// ttlValue is a time to live flag, read as the ttl= store parameter is
// (chatstore.ParseTTL).
type ttlValue time.Duration

func (v *ttlValue) String() string {
	if *v == 0 {
		return "none"
	}
	return chatstore.FormatTTL(time.Duration(*v))
}

func (v *ttlValue) Set(s string) error {
	d, err := chatstore.ParseTTL(s)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "chatstore: "))
	}
	*v = ttlValue(d)
	return nil
}

// startSweeper runs the server's Sweeper, if its store keeps expiry and
// interval is not 0, until the returned function is called, which waits
// for it to stop.
func startSweeper(ctx context.Context, srv *server.Server, interval time.Duration, max int) (stop func()) {
	sw := srv.Sweeper(interval, max)
	if sw == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { sw.Run(ctx) })
	return func() {
		cancel()
		wg.Wait()
	}
}

// onHUP handles SIGHUP: with a tokens file it reads the file again and
// gives the server the new tokens (a file that no longer parses is logged
// and the old tokens stay); without one it only logs that the signal was
// ignored, since SIGHUP's default action would end the process and drop the
// requests in flight. It returns a function that stops listening.
func onHUP(srv *server.Server, file string, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
			}
			if file == "" {
				log.Warn("SIGHUP ignored: it reloads the tokens file, and this server was started without --tokens-file")
				continue
			}
			tokens, err := server.LoadTokens(file)
			if err == nil {
				err = srv.SetTokens(tokens)
			}
			if err != nil {
				log.Error("reloading the tokens file failed; the previous tokens stay in use", "file", file, "error", err)
				continue
			}
			log.Info("tokens reloaded", "file", file, "tokens", tokens.Len())
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func newLogger(env *Env, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", ErrUsage, level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch {
	case format == "text" || format == "auto" && env.StderrTerminal:
		return slog.New(slog.NewTextHandler(env.Stderr, o)), nil
	case format == "json" || format == "auto":
		return slog.New(slog.NewJSONHandler(env.Stderr, o)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want text, json or auto", ErrUsage, format)
}
