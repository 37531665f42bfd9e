package kongrelease

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ent  bool
	}{
		{"3.9.1", "3.9.1", false},
		{"2.8.5", "2.8.5", false},
		{"3.4.3.12", "3.4.3.12", true},
		{"3.10.0.2", "3.10.0.2", true},
		{"3.0.0.0-enterprise-edition", "3.0.0.0", true},
	} {
		v, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		if v.String() != tc.want || v.Enterprise != tc.ent {
			t.Errorf("Parse(%q) = %s enterprise=%v, want %s enterprise=%v", tc.in, v, v.Enterprise, tc.want, tc.ent)
		}
	}
	for _, bad := range []string{"", "3", "3.9", "3.9.x", "v3.9.1", "3.9.1.2.3", "3.9.1-enterprise-edition", "03.9.1", "3..1", "-1.2.3"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want an error", bad)
		}
	}
}

func TestCompare(t *testing.T) {
	order := []string{"2.8.2", "2.8.5", "3.4.3.12", "3.5.0", "3.9.0", "3.9.1", "3.10.0.2"}
	for i := range order {
		for j := range order {
			got := MustParse(order[i]).Compare(MustParse(order[j]))
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
	if !MustParse("2.8.2").AtLeast(2, 8, 2) || MustParse("2.8.1").AtLeast(2, 8, 2) || !MustParse("3.0.0").AtLeast(2, 8, 2) {
		t.Error("AtLeast is wrong")
	}
}
