package notify

import (
	"fmt"

	"github.com/upshift-dev/upshift/plan"
)

// FromPlan builds the receivers of p's notify blocks, resolving env()
// values with lookup. An error names the attribute and the variable,
// never a value.
func FromPlan(p *plan.Plan, lookup func(string) (string, bool)) ([]Receiver, error) {
	var out []Receiver
	for _, n := range p.Notify {
		switch n.Kind {
		case "webhook":
			u, err := n.URL.Resolve(lookup)
			if err != nil {
				return nil, fmt.Errorf("plan %q: notify \"webhook\" url: %w", p.Name, err)
			}
			w := &Webhook{URL: u, Source: "plan"}
			if n.Secret.Given() {
				if w.Secret, err = n.Secret.Resolve(lookup); err != nil {
					return nil, fmt.Errorf("plan %q: notify \"webhook\" secret: %w", p.Name, err)
				}
			}
			out = append(out, w)
		case "slack":
			u, err := n.WebhookURL.Resolve(lookup)
			if err != nil {
				return nil, fmt.Errorf("plan %q: notify \"slack\" webhook_url: %w", p.Name, err)
			}
			out = append(out, &Slack{URL: u, Source: "plan"})
		}
	}
	return out, nil
}
