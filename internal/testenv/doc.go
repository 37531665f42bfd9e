// Package testenv starts the real services that Upshift's integration tests
// run against: a throwaway PostgreSQL cluster, nginx, HAProxy, a git server
// over smart HTTP and OpenSSH's sshd, each on free loopback ports with files
// in a temporary directory, and each stopped when the test (or, for
// PostgreSQL, the test binary) ends.
//
// Start reading at [Postgres] and [Main]: a test package that uses
// PostgreSQL calls Main from TestMain,
//
//	func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
//
// and each test asks for its own database with
// testenv.Postgres(t).NewDatabase(t). The cluster starts lazily, once per
// test binary, only when a test first asks for it; UPSHIFT_TEST_DATABASE_URL
// points the harness at an existing server instead.
//
// The cluster's data directory is copied from an initdb template cached in
// the system temporary directory (upshift-testenv-pgtemplate-*), made by
// the first binary that needs it; startup then takes about half a second.
//
// The other helpers start one server per call and stop it in t.Cleanup:
//   - [Nginx]: nginx whose upstream block lives in its own file
//     ([NginxProc.UpstreamFile]) for a traffic driver to rewrite;
//     [NginxProc.Reload] returns once new workers serve.
//   - [HAProxy]: a backend of named, weighted servers and an admin runtime
//     API socket ([HAProxyProc.Command]).
//   - [GitServer] / [GitServerWithAuth]: bare repositories over smart HTTP,
//     pushes included, with helpers that drive the git CLI in an isolated
//     environment ([GitSrv.NewRepo], [GitSrv.Clone], [GitSrv.CommitFiles]).
//   - [SSHD]: OpenSSH on a loopback port with generated keys;
//     [SSHDProc.SSHCommand] is a GIT_SSH_COMMAND.
//
// [Load] is a paced, bounded stream of GETs from Go's net/http client (the
// retrying client of the design's traffic notes) that counts failures and
// which backend answered. [FreePort] picks a free loopback port; servers are
// started on fresh ports again when a start fails (a port taken meanwhile).
//
// Every server writes its log to a file in its temporary directory; the log
// is printed with t.Log when the test failed.
//
// Missing binaries: when a server's binary is absent, the test is skipped
// with a message naming the binary and the Debian package, unless the
// environment variable CI is set, in which case the test fails: CI must
// never pass by skipping.
//
// What it does not do: it does not install anything, it does not manage
// servers that outlive the test binary, and it listens on 127.0.0.1 only.
package testenv
