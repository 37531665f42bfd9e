package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SSHDProc is a running OpenSSH server on a loopback port that accepts one
// generated client key for the user running the tests.
type SSHDProc struct {
	Addr           string // "127.0.0.1:PORT"
	Port           int
	User           string // the login user: the user running the tests
	ClientKey      string // path of the client's private key (no passphrase)
	KnownHosts     string // path of a known_hosts file holding KnownHostsLine
	KnownHostsLine string // "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
	Dir            string // configuration, keys and log
}

// sshdPrivsepDir is the privilege separation directory compiled into
// Debian's sshd; sshd refuses to start without it.
const sshdPrivsepDir = "/run/sshd"

// SSHD starts `sshd -D` on a free loopback port with a generated host key
// and an authorized_keys file holding a generated client key, and stops it
// in t.Cleanup. The test is skipped when sshd or ssh-keygen is missing and
// CI is unset. When running as root it creates /run/sshd if absent (as the
// Debian service would).
func SSHD(t testing.TB) *SSHDProc {
	t.Helper()
	sshd, err := lookBinary("sshd", "openssh-server", "/usr/sbin/sshd")
	needBinary(t, err)
	keygen, err := lookBinary("ssh-keygen", "openssh-client", "/usr/bin/ssh-keygen")
	needBinary(t, err)
	_, err = lookBinary("ssh", "openssh-client", "/usr/bin/ssh")
	needBinary(t, err)
	if _, err := os.Stat(sshdPrivsepDir); os.IsNotExist(err) && os.Geteuid() == 0 {
		if err := os.MkdirAll(sshdPrivsepDir, 0o755); err != nil {
			t.Fatalf("testenv: sshd: create %s: %v", sshdPrivsepDir, err)
		}
	}
	me, err := user.Current()
	if err != nil {
		t.Fatalf("testenv: sshd: current user: %v", err)
	}
	s := &SSHDProc{Dir: t.TempDir(), User: me.Username}
	hostKey := filepath.Join(s.Dir, "host_ed25519")
	s.ClientKey = filepath.Join(s.Dir, "client_ed25519")
	for _, k := range []string{hostKey, s.ClientKey} {
		if err := runCmd(exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "testenv", "-f", k)); err != nil {
			t.Fatalf("testenv: sshd: %v", err)
		}
	}
	pub, err := os.ReadFile(s.ClientKey + ".pub")
	if err != nil {
		t.Fatalf("testenv: sshd: %v", err)
	}
	authorized := filepath.Join(s.Dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		t.Fatalf("testenv: sshd: %v", err)
	}
	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatalf("testenv: sshd: %v", err)
	}
	hostFields := strings.Fields(string(hostPub)) // type, key, comment

	logPath := filepath.Join(s.Dir, "sshd.log")
	logFileOnFailure(t, "sshd", logPath)
	conf := filepath.Join(s.Dir, "sshd_config")
	var p *proc
	err = retryPorts(1, func(ports []int) error {
		s.Port = ports[0]
		s.Addr = fmt.Sprintf("127.0.0.1:%d", s.Port)
		if err := writeFileAtomic(conf, s.config(hostKey, authorized)); err != nil {
			return err
		}
		// -e: log to stderr (the log file); StrictModes=no: the files live
		// in a temporary directory whose modes sshd would otherwise judge.
		cmd := exec.Command(sshd, "-D", "-e", "-f", conf, "-o", "StrictModes=no")
		var err error
		if p, err = startProc(cmd, logPath, syscall.SIGTERM); err != nil {
			return err
		}
		if err := p.waitUntil(30*time.Second, s.banner); err != nil {
			_ = p.stop(syscall.SIGTERM, 10*time.Second)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: start sshd: %v", err)
	}
	t.Cleanup(func() {
		if err := p.stop(syscall.SIGTERM, 10*time.Second); err != nil {
			t.Errorf("testenv: stop sshd: %v", err)
		}
	})
	s.KnownHostsLine = fmt.Sprintf("[127.0.0.1]:%d %s %s", s.Port, hostFields[0], hostFields[1])
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	if err := os.WriteFile(s.KnownHosts, []byte(s.KnownHostsLine+"\n"), 0o600); err != nil {
		t.Fatalf("testenv: sshd: %v", err)
	}
	return s
}

func (s *SSHDProc) config(hostKey, authorized string) string {
	return fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
PrintMotd no
LogLevel VERBOSE
`, s.Port, hostKey, filepath.Join(s.Dir, "sshd.pid"), authorized, s.User)
}

// banner checks that the server answers with an SSH identification line.
func (s *SSHDProc) banner(ctx context.Context) error {
	c, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read banner: %w", err)
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		return fmt.Errorf("banner %q is not SSH-2.0", line)
	}
	return nil
}

// SSHCommand returns a command line for GIT_SSH_COMMAND (or any ssh use)
// that logs in with the client key and trusts only this server's host key.
// Paths are quoted for the shell that git runs it with.
func (s *SSHDProc) SSHCommand() string {
	return fmt.Sprintf("ssh -F /dev/null -i '%s' -o IdentitiesOnly=yes -o UserKnownHostsFile='%s' -o StrictHostKeyChecking=yes -o BatchMode=yes", s.ClientKey, s.KnownHosts)
}

// RepoURL returns an ssh:// URL for the repository at the absolute path.
func (s *SSHDProc) RepoURL(path string) string {
	return fmt.Sprintf("ssh://%s@%s%s", s.User, s.Addr, path)
}
