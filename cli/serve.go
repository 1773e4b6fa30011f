package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
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
	f := newFlags(env, "serve", serveUsage)
	addr := f.String("addr", "127.0.0.1:8080", "listen address")
	storeURL := f.String("store", DefaultStore, "store URL; Haystack's store options as query parameters, e.g. memory://?last_k=all")
	tokensFile := f.String("tokens-file", "", "file of \"TENANT TOKEN\" lines; every /v1 request then needs a bearer token")
	allowUnauth := f.Bool("allow-unauthenticated", false, "listen on a non-loopback address without a tokens file")
	maxBody := f.Int64("max-body-bytes", server.DefaultMaxBodyBytes, "largest request body")
	maxMsgs := f.Int("max-write-messages", server.DefaultMaxWriteMessages, "most messages in one write")
	maxID := f.Int("max-history-id-bytes", server.DefaultMaxHistoryIDLen, fmt.Sprintf("longest history id, at most %d", server.MaxHistoryIDLen))
	maxHeader := f.Int("max-header-bytes", 64<<10, "largest request header block")
	maxResponse := f.Int("max-response-bytes", server.DefaultMaxResponseBytes, "largest answer; a read that selects more is refused with a hint to page")
	maxInFlight := f.Int64("max-inflight-bytes", 0, "most bytes of request bodies and answers held at once, past which requests get 503 overloaded (0: 6 × --max-body-bytes, at least 3 × --max-response-bytes)")
	allowedHosts := f.String("allowed-hosts", "", "without --tokens-file, comma-separated Host names served besides loopback ones (\"*\" for any), e.g. behind a reverse proxy")
	storeTimeout := f.Duration("store-timeout", server.DefaultStoreTimeout, "longest a store call may take before the request answers 503")
	headerTimeout := f.Duration("read-header-timeout", 5*time.Second, "time a client has to send the request headers")
	readTimeout := f.Duration("read-timeout", 30*time.Second, "time a client has to send a whole request")
	writeTimeout := f.Duration("write-timeout", 60*time.Second, "time to answer a request, from the end of its headers")
	idleTimeout := f.Duration("idle-timeout", 120*time.Second, "how long an idle keep-alive connection stays open")
	shutdownTimeout := f.Duration("shutdown-timeout", 30*time.Second, "how long requests in flight get to finish at shutdown")
	logLevel := f.String("log-level", "info", "debug (one record per request), info, warn or error")
	logFormat := f.String("log-format", "auto", "text, json, or auto: text on a terminal, JSON otherwise")
	f.VisitAll(func(fl *flag.Flag) { f.fromEnv(fl.Name) }) // every serve flag has its variable
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: serve takes no arguments, got %q", ErrUsage, pos)
	}

	log, err := newLogger(env, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	opts := &server.Options{
		MaxBodyBytes: *maxBody, MaxWriteMessages: *maxMsgs, MaxHistoryIDLen: *maxID,
		StoreTimeout: *storeTimeout, MaxResponseBytes: *maxResponse, MaxInFlightBytes: *maxInFlight, Logger: log,
	}
	for _, h := range strings.Split(*allowedHosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			opts.AllowedHosts = append(opts.AllowedHosts, h)
		}
	}
	if *tokensFile != "" {
		if opts.Tokens, err = server.LoadTokens(*tokensFile); err != nil {
			return err
		}
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("%w: --addr %q: %v", ErrUsage, *addr, err)
	}
	if opts.Tokens == nil && !isLoopback(host) {
		if !*allowUnauth {
			return fmt.Errorf("%w: refusing to serve %s without authentication: anyone who can connect could read and delete every history; give --tokens-file, listen on 127.0.0.1, or pass --allow-unauthenticated", ErrUsage, *addr)
		}
		log.Warn("serving without authentication on a non-loopback address: anyone who can connect can read and delete every history", "addr", *addr)
		if len(opts.AllowedHosts) == 0 {
			// Clients reach such a server by names the server cannot know,
			// and whoever can reach it may do anything anyway.
			opts.AllowedHosts = []string{"*"}
		}
	}

	routeGoRedisLog(log) // a Redis store's client logs in the server's format
	store, err := chatstore.Open(ctx, *storeURL, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	srv, err := server.New(store, opts)
	if err != nil {
		return err
	}
	defer onHUP(srv, *tokensFile, log)()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: *headerTimeout,
		ReadTimeout:       *readTimeout,
		WriteTimeout:      *writeTimeout,
		IdleTimeout:       *idleTimeout,
		MaxHeaderBytes:    *maxHeader,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	tenants := 0
	if opts.Tokens != nil {
		tenants = opts.Tokens.Len()
	}
	log.Info("listening", "addr", ln.Addr().String(), "page", "http://"+ln.Addr().String()+"/", "store", redact(*storeURL), "tokens", tenants, "version", Version())
	if env.Ready != nil {
		env.Ready(ln.Addr().String())
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(server.Listener(ln, *maxHeader)) }()

	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), *shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		log.Error("shutdown did not finish in time; closing connections", "error", err)
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("server stopped with an error", "error", err)
	}
	if err := store.Close(); err != nil {
		return fmt.Errorf("closing the store: %w", err)
	}
	log.Info("stopped")
	return nil
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
