package chatstore_test

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMarkdownFences checks the code blocks of the README and docs: a
// fence that closes a block has nothing after its backticks (GitHub takes
// "``` text" inside a block for more code, and the rest of the page ends up
// in the block), and no block is left open at the end of a file.
func TestMarkdownFences(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range append([]string{"README.md"}, files...) {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		open, line, opened := "", 0, 0
		for sc.Scan() {
			line++
			s := strings.TrimLeft(sc.Text(), " ")
			fence := s[:len(s)-len(strings.TrimLeft(s, "`"))]
			if len(fence) < 3 {
				continue
			}
			switch rest := strings.TrimSpace(s[len(fence):]); {
			case open == "":
				open, opened = fence, line
			case len(fence) >= len(open) && rest == "":
				open = ""
			case len(fence) >= len(open):
				t.Errorf("%s:%d: text after the fence that should close the block of line %d: %q", name, line, opened, s)
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		if open != "" {
			t.Errorf("%s: the code block of line %d is never closed", name, opened)
		}
	}
}
