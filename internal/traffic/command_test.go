package traffic

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A toy load balancer: set stores its arguments and stdin in a state file;
// get prints the stored JSON.
func TestCommandSetAndGet(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	args := filepath.Join(dir, "args")
	set := []string{"sh", "-c", `echo "$@" >` + args + `; cat >` + state, "set"}
	c, err := NewCommand(CommandConfig{Set: set, Get: []string{"cat", state}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, w := range []Weights{{90, 10}, {0, 100}} {
		if err := c.SetWeights(ctx, w); err != nil {
			t.Fatal(err)
		}
		got, err := c.Weights(ctx)
		if err != nil || got != w {
			t.Errorf("Weights after %v = %v, %v", w, got, err)
		}
	}
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "0 100" {
		t.Errorf("set got arguments %q, want the weights appended", b)
	}

	// Placeholders are substituted instead of appending.
	c2, _ := NewCommand(CommandConfig{Set: []string{"sh", "-c", `echo "$@" >` + args, "set", "--x={from_weight}", "--y={to_weight}"}})
	if err := c2.SetWeights(ctx, Weights{25, 75}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(args); strings.TrimSpace(string(b)) != "--x=25 --y=75" {
		t.Errorf("set got arguments %q", b)
	}
}

func TestCommandErrorsCarryStderr(t *testing.T) {
	ctx := context.Background()
	c, _ := NewCommand(CommandConfig{
		Set: []string{"sh", "-c", "echo 'lb: permission denied' >&2; exit 3"},
		Get: []string{"sh", "-c", "echo 'lb: timeout' >&2; exit 4"},
	})
	err := c.SetWeights(ctx, Weights{50, 50})
	var te *Error
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "lb: permission denied") || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("SetWeights = %v", err)
	}
	if _, err := c.Weights(ctx); err == nil || !strings.Contains(err.Error(), "lb: timeout") {
		t.Errorf("Weights = %v", err)
	}
	if err := c.SetWeights(ctx, Weights{50, 60}); err == nil {
		t.Error("invalid weights accepted")
	}
	noGet, _ := NewCommand(CommandConfig{Set: []string{"true"}})
	if _, err := noGet.Weights(ctx); err == nil {
		t.Error("Weights without a get command succeeded")
	}
	if _, err := NewCommand(CommandConfig{}); err == nil {
		t.Error("empty set accepted")
	}
}

func TestParseCommandWeights(t *testing.T) {
	for out, want := range map[string]Weights{
		`{"from":90,"to":10}`:         {90, 10},
		" {\"to\":100, \"from\":0}\n": {0, 100},
		"50 50\n":                     {50, 50},
	} {
		if got, err := parseCommandWeights(out); err != nil || got != want {
			t.Errorf("%q = %v, %v", out, got, err)
		}
	}
	for _, out := range []string{"", "50", `{"from":50}`, "50 40", "a b", `{"from":"x"}`, "1 2 3"} {
		if got, err := parseCommandWeights(out); err == nil {
			t.Errorf("%q accepted as %v", out, got)
		}
	}
}
