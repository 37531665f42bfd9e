package engine

import "testing"

// A traffic step the load balancer is past is done, and its reason says
// the step's own weight: "traffic_50: load balancer sends 100% to Y" read
// as if that step had sent everything (issue 14).
func TestTrafficStepReasonPastItsWeight(t *testing.T) {
	e := &Engine{plan: lintedPlanNoWorld(t), drv: &Drivers{Router: nopRouter{}}}
	s := &state{obs: Observed{Traffic: &TrafficFacts{From: 0, To: 100}}, h: readHistory(nil, "")}
	want := map[string]string{
		"traffic_50":  "load balancer sends 100% to Y, past this step's 50%",
		"traffic_100": "load balancer sends 100% to Y",
	}
	for _, st := range e.rolloutSteps() {
		w, ok := want[st.name]
		if !ok {
			continue
		}
		if done, why := st.done(s); !done || why != w {
			t.Errorf("%s: done %v, %q; want %q", st.name, done, why, w)
		}
	}
}
