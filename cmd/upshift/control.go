package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/upshift-dev/upshift/agent"
)

// Runtime controls: upshift approve|pause|resume|abort ask a running
// agent (its POST /api/v1/plans/NAME/ACTION), which journals them.

const controlUsage = `Usage: upshift %[1]s %[2]s--agent URL --plan NAME --reason TEXT [--by NAME]
                     [--token-env NAME]

%[3]s

The agent validates the request against the plan's journal and writes it
there, with --by (a claim: whoever holds the admin token may write any
name), --reason and the time; upshift status --plan shows it. It holds
across an agent restart and a leader change. It takes effect at the plan's
next step boundary: a running step is never cut short, except the wait of a
rollout pause (pause stops its countdown; abort ends it).

  --agent URL       the agent's HTTP address, e.g. http://upshift.internal:8080
  --plan NAME       the plan
  --reason TEXT     why (required; journaled)
  --by NAME         who asks (default: $USER)
  --token-env NAME  environment variable holding the agent's admin token
                    (default UPSHIFT_ADMIN_TOKEN; the agent's --admin-token-env)

Exit codes: 0 journaled, 1 refused (wrong token, not at a gate, already
paused, ...) or the agent cannot be reached, 2 usage error.
`

var controlHelp = map[string]string{
	"approve": `Consents to a point of no return at its gate: valid only while the plan's
current run waits at the gate of ITEM (AwaitingApproval, e.g. finish,
stop_current, decommission), and as valid as ITEM added to approve = [...]
in a commit made after the run stopped there.`,
	"pause": `Holds the plan: the next step does not start, a rollout pause's countdown
stops, traffic stays as it is. A rollback (a commit, a revert, upshift abort)
is never held.`,
	"resume": `Ends a pause: the plan goes on from where it stood.`,
	"abort": `Rolls the plan back now, as rollback { requested = true } does, skipping the
rest of a running rollout pause and its analysis. After a point of no return
it stalls with RestoreNeeded, as a requested rollback does. The run stays
rolled back until the plan changes (run = N+1 upgrades again).`,
}

func controlCommand(action, synopsis string) *command {
	item := ""
	if action == "approve" {
		item = "ITEM "
	}
	usage := fmt.Sprintf(controlUsage, action, item, controlHelp[action])
	return &command{
		Name:     action,
		Synopsis: synopsis,
		Usage:    usage,
		Run: func(ctx context.Context, args []string, s *streams) int {
			fs := newFlagSet(action)
			agentURL := fs.String("agent", "", "agent URL")
			planName := fs.String("plan", "", "plan name")
			reason := fs.String("reason", "", "why (journaled)")
			by := fs.String("by", os.Getenv("USER"), "who asks (journaled)")
			tokenEnv := fs.String("token-env", "UPSHIFT_ADMIN_TOKEN", "environment variable holding the admin token")
			pos, err := parseFlags(fs, args)
			want := 0
			if action == "approve" {
				want = 1
			}
			switch {
			case err != nil:
			case len(pos) != want && want == 1:
				err = usageErrorf("takes one consent item (e.g. decommission)")
			case len(pos) != want:
				err = usageErrorf("takes no arguments")
			case *agentURL == "" || *planName == "":
				err = usageErrorf("--agent URL and --plan NAME are required")
			case strings.TrimSpace(*reason) == "":
				err = usageErrorf("--reason TEXT is required (it is journaled)")
			}
			if err != nil {
				return handleParseError(action, usage, err, s)
			}
			token, ok := os.LookupEnv(*tokenEnv)
			if !ok || token == "" {
				fmt.Fprintf(s.Err, "upshift %s: environment variable %s (--token-env) is not set: it holds the agent's admin token\n", action, *tokenEnv)
				return exitFail
			}
			req := map[string]string{"reason": *reason, "by": *by}
			if want == 1 {
				req["item"] = pos[0]
			}
			res, err := postControl(ctx, *agentURL, *planName, action, token, req)
			if err != nil {
				fmt.Fprintf(s.Err, "upshift %s: %v\n", action, err)
				return exitFail
			}
			fmt.Fprintf(s.Out, "%s: %s (journal record %d)\n", res.Plan, res.Message, res.Seq)
			return exitOK
		},
	}
}

var (
	approveCommand = controlCommand("approve", "Consent to a point of no return at its gate (runtime)")
	pauseCommand   = controlCommand("pause", "Hold a plan at its next step boundary")
	resumeCommand  = controlCommand("resume", "Continue a paused plan")
	abortCommand   = controlCommand("abort", "Roll a plan back now (as rollback { requested = true })")
)

// postControl sends one control; the agent's refusal is the error, in
// its words.
func postControl(ctx context.Context, base, planName, action, token string, body map[string]string) (agent.ControlResult, error) {
	var res agent.ControlResult
	u, err := url.JoinPath(base, "/api/v1/plans", planName, action)
	if err != nil {
		return res, fmt.Errorf("--agent %q: %w", base, err)
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return res, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, fmt.Errorf("reach the agent: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return res, fmt.Errorf("read the agent's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(raw))
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			return res, fmt.Errorf("the agent rejected the admin token (401): %s", msg)
		case http.StatusForbidden:
			return res, fmt.Errorf("the agent refused (403): %s", msg)
		case http.StatusNotFound:
			return res, fmt.Errorf("no plan %q (404): %s", planName, msg)
		case http.StatusConflict:
			return res, fmt.Errorf("refused: %s", msg)
		}
		return res, fmt.Errorf("the agent answered %s: %s", resp.Status, msg)
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return res, fmt.Errorf("the agent's answer is not JSON: %w", err)
	}
	return res, nil
}
