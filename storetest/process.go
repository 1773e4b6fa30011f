package storetest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// Tests where several processes write one store run the test binary again
// as children. The backend's TestMain calls Child when the environment
// variable it chose is set; the test calls RunChildren.

// RunChildren starts the test binary once per role, with env set to the
// role, releases them all at once when they have started, waits for them,
// and returns when each worked (from the start and end lines Child prints).
// A child that fails fails the test.
func RunChildren(t *testing.T, env string, roles []string) (spans [][2]int64) {
	t.Helper()
	spans = make([][2]int64, len(roles))
	var (
		cmds    []*exec.Cmd
		gos     []io.WriteCloser
		readers sync.WaitGroup
	)
	for k, role := range roles {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), env+"="+role)
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		readers.Go(func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var what string
				var at int64
				if _, err := fmt.Sscanf(sc.Text(), "%s %d", &what, &at); err == nil {
					switch what {
					case "start":
						spans[k][0] = at
					case "end":
						spans[k][1] = at
					}
				}
			}
		})
		cmds, gos = append(cmds, cmd), append(gos, in)
	}
	stop := time.AfterFunc(2*time.Minute, func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
	})
	defer stop.Stop()
	for _, in := range gos {
		fmt.Fprintln(in, "go")
		in.Close()
	}
	readers.Wait()
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child %q: %v", roles[i], err)
		}
	}
	return spans
}

// Child is the child's side of RunChildren: it waits for the go, runs work,
// and reports when it started and ended.
func Child(work func() error) error {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return err
	}
	fmt.Printf("start %d\n", time.Now().UnixNano())
	err := work()
	fmt.Printf("end %d\n", time.Now().UnixNano())
	return err
}
