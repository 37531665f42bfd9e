// Package deploy holds no code: its directories are the agent's packaging
// (systemd/, kubernetes/), and its tests check them and the repository's
// Dockerfile as far as a machine without a container engine can: the
// Dockerfile's go build line is run as written, the systemd unit goes
// through systemd-analyze verify, and the manifests are decoded strictly
// into the Kubernetes API types (k8s.io/api).
package deploy
