package freeport

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"testing"
)

// envHolder makes the test binary a holder process: it reserves every
// port of the range except multiples of 100, says "ready", and keeps them
// until its stdin closes.
const envHolder = "FREEPORT_TEST_HOLDER"

func TestMain(m *testing.M) {
	if os.Getenv(envHolder) != "" {
		for p := 10000; p < lowEphemeral(); p++ {
			if p%100 != 0 {
				reserve(p)
			}
		}
		os.Stdout.WriteString("ready\n")
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestGetSkipsPortsOfOtherProcesses (issue H6): a port reserved by
// another live process is never handed out here, though it is free to
// bind (the holder binds nothing); this is what two test binaries picking
// ports at once rely on.
func TestGetSkipsPortsOfOtherProcesses(t *testing.T) {
	if _, err := os.Stat(LockPath); err != nil && !os.IsNotExist(err) {
		t.Skip(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHolder+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("holder: %q %v", line, err)
	}
	for range 20 {
		p, err := Get()
		if err != nil {
			t.Fatal(err)
		}
		if p < lowEphemeral() && p%100 != 0 {
			t.Fatalf("Get handed out port %d, reserved by process %d", p, cmd.Process.Pid)
		}
	}
}
