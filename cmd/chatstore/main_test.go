package main

// End-to-end tests: the real binary, started on a free loopback port over a
// temporary SQLite file, driven over HTTP and on its command line.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatstore/chatstore"
	"github.com/chatstore/chatstore/internal/loadtest"
	"github.com/chatstore/chatstore/internal/proctest"
	"github.com/chatstore/chatstore/internal/testenv"
	_ "github.com/chatstore/chatstore/sqlitestore"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chatstore-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "chatstore")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the binary: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running "chatstore serve".
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	done chan error
	logs *bytes.Buffer
	mu   *sync.Mutex
	line chan struct{} // has a value when lines were logged since the last receive
}

// lockedBuffer lets the test read the logs while the process writes them.
type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// serve starts the server and waits for its "listening" log record, which
// carries the port the kernel chose.
func serve(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, done: make(chan error, 1), logs: &bytes.Buffer{}, mu: &sync.Mutex{}, line: make(chan struct{}, 1)}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			lockedWriter{p.mu, p.logs}.Write([]byte(line + "\n"))
			select {
			case p.line <- struct{}{}:
			default:
			}
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr <- rec.Addr
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case a := <-addr:
		p.base = "http://" + a
	case err := <-p.done:
		t.Fatalf("server exited before listening: %v\n%s", err, p.log())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("server did not listen within 30s\n%s", p.log())
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// stop sends sig and returns the exit error (nil for exit 0).
func (p *proc) stop(sig os.Signal) error {
	p.t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case err := <-p.done:
		return err
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
		p.t.Fatalf("server did not stop within 60s of %v", sig)
		return nil
	}
}

// cleanEnv keeps CHATSTORE_* settings of the developer's shell out of the
// tests.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CHATSTORE_") {
			env = append(env, kv)
		}
	}
	return env
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (p *proc) call(method, path, body string, header ...string) answer {
	p.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, p.base+path, rd)
	if err != nil {
		p.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func msg(role, text string) string {
	return fmt.Sprintf(`{"role":%q,"meta":{},"name":null,"content":[{"text":%q}]}`, role, text)
}

func TestRoutesAndErrors(t *testing.T) {
	p := serve(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "chat.db"), "--max-body-bytes", "2048")
	conv := `{"messages":[` + msg("user", "Weather in Paris?") + `,` +
		`{"role":"assistant","meta":{},"name":null,"content":[{"tool_call":{"tool_name":"weather","arguments":{"city":"Paris"},"id":"c1","extra":null}}]},` +
		`{"role":"tool","meta":{},"name":null,"content":[{"tool_call_result":{"result":"sunny","origin":{"tool_name":"weather","arguments":{"city":"Paris"},"id":"c1","extra":null},"error":false}}]},` +
		msg("assistant", "Sunny.") + `]}`
	openaiIn := `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`
	steps := []struct {
		method, path, body string
		status             int
		want               string // a substring of the answer
	}{
		{"GET", "/healthz", "", 200, `{"status":"ok"}`},
		{"POST", "/v1/histories/session%2F1/messages", conv, 200, `{"messages_written":4}`},
		{"POST", "/v1/histories/session%2F1/messages", conv, 200, `{"messages_written":4}`}, // no ids given: new ones
		{"GET", "/v1/histories/session%2F1", "", 200, `{"chat_history_id":"session/1","count":8,`},
		{"GET", "/v1/histories/session%2F1/messages?last_k=1", "", 200, `"chat_message_id":"4"`},
		{"GET", "/v1/histories/session%2F1/messages?last_k=1&format=openai", "", 200, `"tool_call_id":"c1"`},
		{"POST", "/v1/histories/o/messages?format=openai", openaiIn, 200, `{"messages_written":2}`},
		{"GET", "/v1/histories/o/messages?format=openai", "", 200, `{"role":"assistant","content":"hello"}`},
		{"POST", "/v1/histories/o/context", `{"current_messages":[` + msg("user", "again") + `],"last_k":"all"}`, 200, `"again"`},
		{"GET", "/v1/histories?limit=1", "", 200, `"next_cursor":"`},
		{"GET", "/metrics", "", 200, `chatstore_messages_written_total 10`},
		{"GET", "/openapi.json", "", 200, `"openapi": "3.0.3"`},
		{"POST", "/v1/histories/x/messages", `{"messages":[{"role":"robot","content":[]}]}`, 400, `messages[0].role`},
		{"POST", "/v1/histories/x/messages", `{"messages":[` + strings.Repeat(" ", 3000) + `]}`, 413, `body_too_large`},
		{"GET", "/v1/histories/x/messages?last_k=-1", "", 400, `invalid_last_k`},
		{"GET", "/v1/nothing", "", 404, `not_found`},
		{"PUT", "/v1/histories/x", "", 405, `method_not_allowed`},
		{"DELETE", "/v1/histories/o", "", 204, ``},
		{"GET", "/v1/histories/o", "", 200, `"count":0`},
		{"DELETE", "/v1/histories", "", 204, ``},
		{"GET", "/v1/histories", "", 200, `{"histories":[],"next_cursor":null}`},
	}
	for _, s := range steps {
		a := p.call(s.method, s.path, s.body)
		if a.status != s.status || !strings.Contains(a.body, s.want) {
			t.Errorf("%s %s: %d %s\nwant %d with %s", s.method, s.path, a.status, a.body, s.status, s.want)
		}
	}
	// 415 needs a non-JSON content type.
	a := p.call("POST", "/v1/histories/x/messages", "", "Content-Type", "text/plain")
	if a.status != 415 {
		t.Errorf("text/plain body: %d %s", a.status, a.body)
	}
	if err := p.stop(syscall.SIGINT); err != nil {
		t.Errorf("SIGINT: exit %v, want 0\n%s", err, p.log())
	}
}

func TestTenants(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.WriteFile(tokens, []byte("# tenants\nacme acme-secret-token-123\nglobex globex-secret-token-456\nview acme-viewer-token-789 read-only\n"), 0o600)
	p := serve(t, "--store", "sqlite:"+filepath.Join(dir, "chat.db"), "--tokens-file", tokens)
	acme := []string{"Authorization", "Bearer acme-secret-token-123"}
	globex := []string{"Authorization", "Bearer globex-secret-token-456"}
	viewer := []string{"Authorization", "Bearer acme-viewer-token-789"}
	if a := p.call("GET", "/v1/histories", ""); a.status != 401 {
		t.Errorf("no token: %d", a.status)
	}
	if a := p.call("GET", "/v1/histories", "", "Authorization", "Bearer guess-guess-guess-guess"); a.status != 401 {
		t.Errorf("wrong token: %d", a.status)
	}
	p.call("POST", "/v1/histories/chat/messages", `{"messages":[`+msg("user", "acme's")+`]}`, acme...)
	p.call("POST", "/v1/histories/chat/messages", `{"messages":[`+msg("user", "globex's")+`]}`, globex...)
	if a := p.call("GET", "/v1/histories/chat/messages", "", acme...); !strings.Contains(a.body, "acme's") || strings.Contains(a.body, "globex's") {
		t.Errorf("acme reads %s", a.body)
	}
	if a := p.call("POST", "/v1/histories/chat/messages", `{"messages":[]}`, viewer...); a.status != 403 {
		t.Errorf("read-only write: %d %s", a.status, a.body)
	}
	p.call("DELETE", "/v1/histories", "", globex...)
	if a := p.call("GET", "/v1/histories", "", acme...); !strings.Contains(a.body, `"chat_history_id":"chat","count":1`) {
		t.Errorf("globex's delete-all reached acme: %s", a.body)
	}
	if a := p.call("GET", "/healthz", ""); a.status != 200 {
		t.Errorf("healthz needs no token: %d", a.status)
	}
}

// TestShutdownAndRestart writes from 64 clients, stops the server with
// SIGTERM in the middle, restarts it on the same file, and checks that every
// acknowledged write is there exactly once: SIGTERM lets writes in flight
// finish.
func TestShutdownAndRestart(t *testing.T) {
	testKillUnderLoad(t, syscall.SIGTERM)
}

// TestKillAndRestart is the same with SIGKILL: the process gets no chance
// to finish anything, and still every acknowledged write is there exactly
// once after a restart, because SQLite had committed it before the answer.
func TestKillAndRestart(t *testing.T) {
	testKillUnderLoad(t, syscall.SIGKILL)
}

// TestReloadTokens changes the tokens file of a running server and sends
// SIGHUP: the removed token stops working, the new one works, and a file
// that does not parse leaves the tokens as they were.
func TestReloadTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte("acme old-token-0123456789\n"), 0o600)
	p := serve(t, "--store", "memory://", "--tokens-file", file)
	status := func(token string) int {
		return p.call("GET", "/v1/histories", "", "Authorization", "Bearer "+token).status
	}
	if status("old-token-0123456789") != 200 || status("new-token-0123456789") != 401 {
		t.Fatal("the tokens at start are not the file's")
	}
	reload := func(content, logged string) {
		t.Helper()
		os.WriteFile(file, []byte(content), 0o600)
		before := strings.Count(p.log(), logged)
		p.cmd.Process.Signal(syscall.SIGHUP)
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(p.log(), logged) == before {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log after SIGHUP:\n%s", logged, p.log())
			}
			time.Sleep(10 * time.Millisecond) // polling the log of another process
		}
	}
	reload("acme new-token-0123456789\n", `"msg":"tokens reloaded"`)
	if status("old-token-0123456789") != 401 || status("new-token-0123456789") != 200 {
		t.Error("after SIGHUP the old token still works or the new one does not")
	}
	reload("acme short\n", `"msg":"reloading the tokens file failed`)
	if status("new-token-0123456789") != 200 {
		t.Error("a bad tokens file took the working tokens away")
	}
}

// testKillUnderLoad stops the server with sig under write load from 64
// clients, restarts it on the same file, and checks every acknowledged
// write; once, or five times in a row in the long variant.
func testKillUnderLoad(t *testing.T, sig syscall.Signal) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "chat.db")
	var acked []string
	p := serve(t, "--store", db)
	for round := range testenv.Rounds(1, 5) {
		load := loadtest.Start(p.base, "load", 64)
		load.WaitAcked(t, testenv.Rounds(500, 5000), time.Minute)
		err := p.stop(sig)
		load.Stop()
		if sig == syscall.SIGTERM && (err != nil || !strings.Contains(p.log(), `"msg":"stopped"`)) {
			t.Errorf("SIGTERM: exit %v, want 0, and a clean stop in the log:\n%s", err, p.log())
		}
		acked = append(acked, load.Acked()...)
		p = serve(t, "--store", db)
		st, err := chatstore.Open(t.Context(), db, nil)
		if err != nil {
			t.Fatal(err)
		}
		proctest.CheckAcked(t, st, "load", acked)
		n, err := st.Count(t.Context(), "load")
		st.Close()
		if err != nil {
			t.Fatal(err)
		}
		if n < len(acked) {
			t.Errorf("%d messages stored, fewer than the %d acknowledged", n, len(acked))
		}
		if a := p.call("GET", "/v1/histories/load", ""); !strings.Contains(a.body, fmt.Sprintf(`"count":%d`, n)) {
			t.Errorf("the restarted server does not serve the history: %d %s", a.status, a.body)
		}
		t.Logf("round %d, %v: %d writes acknowledged in all, %d messages after the restart (answers %v)", round, sig, len(acked), n, load.Statuses())
	}
}

func TestRefusesOpenUnauthenticated(t *testing.T) {
	out, err := exec.Command(binary, "serve", "--addr", "0.0.0.0:0", "--store", "memory://").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--tokens-file") {
		t.Errorf("serve on 0.0.0.0 without tokens: %v\n%s", err, out)
	}
}

// run runs a CLI command to completion.
func run(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), binary, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chatstore %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

func TestImportExportRoundTrip(t *testing.T) {
	dir := t.TempDir()
	var file strings.Builder
	for i := range 1200 { // more than two import batches
		role := []string{"user", "assistant"}[i%2]
		fmt.Fprintf(&file, `{"role":%q,"meta":{"chat_message_id":"m%04d","score":0.5},"name":null,"content":[{"text":"message é %d"}]}`+"\n", role, i, i)
	}
	in := filepath.Join(dir, "in.jsonl")
	os.WriteFile(in, []byte(file.String()), 0o600)
	store := "sqlite:" + filepath.Join(dir, "a.db")

	_, report := run(t, "", "import", "--history", "h1", "--store", store, in)
	if !strings.Contains(report, "1200 messages read, 1200 written, 0 skipped") {
		t.Errorf("import report: %s", report)
	}
	_, report = run(t, "", "import", "--history", "h1", "--store", store, in)
	if !strings.Contains(report, "1200 messages read, 0 written, 1200 skipped") {
		t.Errorf("second import is not a no-op: %s", report)
	}
	out, errOut := run(t, "", "export", "--history", "h1", "--store", store)
	if out != file.String() {
		t.Errorf("export differs from the import file (%d vs %d bytes)", len(out), file.Len())
	}
	if errOut != "" {
		t.Errorf("export wrote to stderr on a pipe: %q", errOut)
	}

	// export --all | import into another store, through a running server.
	run(t, "", "import", "--history", "h2", "--store", store, "-")
	run(t, strings.SplitN(file.String(), "\n", 4)[0]+"\n", "import", "--history", "h2", "--store", store)
	all, _ := run(t, "", "export", "--all", "--store", store)
	p := serve(t, "--store", "sqlite:"+filepath.Join(dir, "b.db"))
	_, report = run(t, all, "import", "--server", p.base)
	if !strings.Contains(report, "1201 messages read, 1201 written") {
		t.Errorf("import --server report: %s", report)
	}
	again, _ := run(t, "", "export", "--all", "--server", p.base)
	// The server stamps its own times (an import through it cannot keep
	// them); everything else round-trips.
	times := regexp.MustCompile(`"(created_at|updated_at)":"[^"]*"`)
	if times.ReplaceAllString(again, `"$1":T`) != times.ReplaceAllString(all, `"$1":T`) || !strings.Contains(all, `"created_at":"20`) {
		t.Errorf("export --all through the server differs from the original")
	}
	hist, _ := run(t, "", "histories", "--server", p.base)
	if hist != "h1\t1200\nh2\t1\n" {
		t.Errorf("histories: %q", hist)
	}
	if n, _ := run(t, "", "count", "h1", "--server", p.base); n != "1200\n" {
		t.Errorf("count: %q", n)
	}
	show, _ := run(t, "", "show", "h1", "--last-k", "1", "--format", "openai", "--server", p.base)
	if show != `{"role":"user","content":"message é 1198"}`+"\n"+`{"role":"assistant","content":"message é 1199"}`+"\n" {
		t.Errorf("show --format openai: %q", show)
	}
	run(t, "", "delete", "h1", "--server", p.base)
	if n, _ := run(t, "", "count", "h1", "--store", store); n != "1200\n" {
		t.Errorf("deleting on the server touched the other store: %q", n)
	}
	if n, _ := run(t, "", "count", "h1", "--server", p.base); n != "0\n" {
		t.Errorf("count after delete: %q", n)
	}
	// OpenAI export and import.
	oa, _ := run(t, "", "export", "--history", "h2", "--format", "openai", "--store", store)
	run(t, oa, "import", "--history", "h3", "--format", "openai", "--store", store)
	if got, _ := run(t, "", "show", "h3", "--format", "openai", "--store", store); got != oa {
		t.Errorf("OpenAI round trip: %q, want %q", got, oa)
	}
}

func TestVersionAndHelp(t *testing.T) {
	out, _ := run(t, "", "version")
	if !strings.HasPrefix(out, "chatstore ") {
		t.Errorf("version: %q", out)
	}
	for _, c := range []string{"serve", "import", "export", "histories", "show", "count", "delete", "bench", "version"} {
		out, _ := run(t, "", c, "--help")
		if !strings.Contains(out, "usage: chatstore "+c) || !strings.Contains(out, "examples:") {
			t.Errorf("%s --help lacks usage or examples:\n%s", c, out)
		}
	}
}

// TestSlowClientCut checks that a client sending its headers too slowly is
// disconnected after --read-header-timeout rather than holding a connection.
func TestSlowClientCut(t *testing.T) {
	p := serve(t, "--store", "memory://", "--read-header-timeout", "300ms")
	// Before dialing: the server's timeout runs from when it accepts the
	// connection, which may be before Dial returns.
	start := time.Now()
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")) // never finished
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(conn)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("closed after %v, before the timeout", d)
	}
}

// TestStoreTimeout gets 503s from a real binary: with a store timeout of one
// nanosecond no store call can finish in time.
func TestStoreTimeout(t *testing.T) {
	p := serve(t, "--store", "sqlite:"+filepath.Join(t.TempDir(), "chat.db"), "--store-timeout", "1ns")
	for _, path := range []string{"/v1/histories/h/messages", "/v1/histories", "/healthz"} {
		a := p.call("GET", path, "")
		if a.status != 503 || !strings.Contains(a.body, `"code":"store_timeout"`) {
			t.Errorf("GET %s: %d %s", path, a.status, a.body)
		}
	}
}
