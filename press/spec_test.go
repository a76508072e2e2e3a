package press

import (
	"strings"
	"testing"
)

// TestParseErrors checks that every bad spec is rejected with a message that
// names the problem and lists what is valid.
func TestParseErrors(t *testing.T) {
	cases := []struct {
		spec string
		want []string // substrings of the error
	}{
		{"snapkvv:budget=128", []string{`unknown press "snapkvv"`, "valid: none, snapkv, pyramidkv, h2o, streaming, think, think-v"}},
		{"snapkv:budget=128+bogus", []string{`unknown press "bogus"`, "think-v"}},
		{"snapkv:budget=128+", []string{`unknown press ""`}},
		{"snapkv:budget=128,size=3", []string{`unknown key "size"`, "budget=integer in [window, ", "window=integer in [1, 4096] (default 32)", "kernel=", "pool=max|avg (default max)"}},
		{"think:ratio=0.5,budget=3", []string{`unknown key "budget"`, "ratio=number in [0, 1)", "recent=", "window="}},
		{"snapkv", []string{`missing required key "budget"`, "budget=integer"}},
		{"streaming:sink=2", []string{`missing required key "recent"`, "sink=integer in [0, "}},
		{"think", []string{`missing required key "ratio"`, "ratio=number in [0, 1)"}},
		{"snapkv:budget=0", []string{"budget=0 out of range", "want budget=integer in [window, "}},
		{"snapkv:budget=12.5", []string{"budget=12.5 out of range", "integer"}},
		{"snapkv:budget=1e3", []string{"budget=1e3 out of range"}},
		{"snapkv:budget=128,window=0", []string{"window=0 out of range", "[1, 4096]"}},
		{"snapkv:budget=128,window=5000", []string{"window=5000 out of range"}},
		{"snapkv:budget=128,pool=mean", []string{"pool=mean", "want one of max, avg"}},
		{"think:ratio=1", []string{"ratio=1 out of range", "[0, 1)"}},
		{"think-v:ratio=-0.1", []string{"ratio=-0.1 out of range"}},
		{"think:ratio=NaN", []string{"ratio=NaN out of range"}},
		{"think:ratio=half", []string{"ratio=half out of range"}},
		{"think:ratio=0.5,pack=-1", []string{"pack=-1 out of range", "pack=integer in [0, "}},
		{"think:ratio=0.5,pack=1.5", []string{"pack=1.5 out of range"}},
		{"pyramidkv:budget=64,beta=0.5", []string{"beta=0.5 out of range", "[1, 1000000]"}},
		{"snapkv:budget=16", []string{"budget=16 is below window=32"}},
		{"pyramidkv:budget=10,window=11", []string{"budget=10 is below window=11: the budget includes the window"}},
		{"snapkv:budget=128,kernel=4", []string{"kernel must be odd", "4"}},
		{"h2o:budget=10,recent=20", []string{"budget=10 is below recent=20"}},
		{"think:ratio=0.5+think:ratio=0.3", []string{"think and think-v may each appear once"}},
		{"think-v:ratio=0.5+snapkv:budget=64+think-v:ratio=0.1", []string{"think and think-v may each appear once"}},
		{"snapkv:budget", []string{`"budget" is not key=value`, "valid keys: budget="}},
		{"snapkv:budget=,window=8", []string{"is not key=value"}},
		{"snapkv:budget=64,budget=65", []string{`key "budget" given twice`}},
		{"snapkv:budget=64+none", []string{"none is the full cache and stands alone"}},
		{"none+think:ratio=0.5", []string{"stands alone"}},
		{"think:ratio=0.5,floor=0.3", []string{"floor=0.3 applies only with adaptive=1"}},
		{"think-v:ratio=0.5,adaptive=0,floor=0.2", []string{"floor=0.2 applies only with adaptive=1"}},
		{"think:ratio=0.5,adaptive=2", []string{"adaptive=2 out of range", "adaptive=integer in [0, 1] (default 0)"}},
		{"think:ratio=0.5,adaptive=1,floor=1.5", []string{"floor=1.5 out of range", "floor=number in [0, 1] (default 0.2, only with adaptive=1)"}},
	}
	for _, tc := range cases {
		p, err := Parse(tc.spec)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want an error", tc.spec, p)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Parse(%q) error %q does not mention %q", tc.spec, err, w)
			}
		}
	}
}

// TestHelpLowerBounds checks that the help states a budget's real lower
// bound, the key it includes, rather than 1.
func TestHelpLowerBounds(t *testing.T) {
	h := Help()
	for _, want := range []string{"snapkv: ", "    budget=integer in [window, ", "h2o: ", "    budget=integer in [recent, "} {
		if !strings.Contains(h, want) {
			t.Errorf("Help() lacks %q:\n%s", want, h)
		}
	}
	if strings.Contains(h, "budget=integer in [1,") {
		t.Errorf("Help() still says a budget may be 1:\n%s", h)
	}
}

// TestParseRoundTrip checks that defaults are filled in, String spells every
// parameter, and String parses back to the same press.
func TestParseRoundTrip(t *testing.T) {
	cases := []struct{ spec, want string }{
		{"snapkv:budget=128", "snapkv:budget=128,kernel=7,pool=max,window=32"},
		{" snapkv: budget = 64 , pool = avg ", "snapkv:budget=64,kernel=7,pool=avg,window=32"},
		{"pyramidkv:budget=256,beta=10", "pyramidkv:beta=10,budget=256,kernel=7,pool=max,window=32"},
		{"h2o:budget=100", "h2o:budget=100,recent=32"},
		{"streaming:recent=64", "streaming:recent=64,sink=4"},
		{"think:ratio=0.5", "think:pack=32,ratio=0.5,recent=32,window=32"},
		{"think:ratio=0.5,pack=0", "think:pack=0,ratio=0.5,recent=32,window=32"},
		{"think-v:ratio=0.25,window=8", "think-v:pack=32,ratio=0.25,recent=32,window=8"},
		{"snapkv:budget=128+think:ratio=0.5", "snapkv:budget=128,kernel=7,pool=max,window=32+think:pack=32,ratio=0.5,recent=32,window=32"},
		{"think:ratio=0.5+snapkv:budget=128,window=16", "think:pack=32,ratio=0.5,recent=32,window=32+snapkv:budget=128,kernel=7,pool=max,window=16"},
		{"h2o:budget=64,recent=8+think:ratio=0.4+think-v:ratio=0.2,pack=16", "h2o:budget=64,recent=8+think:pack=32,ratio=0.4,recent=32,window=32+think-v:pack=16,ratio=0.2,recent=32,window=32"},
		// adaptive=0 is the default and left out: specs from before it existed keep their form.
		{"think:ratio=0.5,adaptive=0", "think:pack=32,ratio=0.5,recent=32,window=32"},
		{"think:ratio=0.5,adaptive=1", "think:adaptive=1,floor=0.2,pack=32,ratio=0.5,recent=32,window=32"},
		{"snapkv:budget=64+think-v:ratio=0.5,adaptive=1,floor=0", "snapkv:budget=64,kernel=7,pool=max,window=32+think-v:adaptive=1,floor=0,pack=32,ratio=0.5,recent=32,window=32"},
	}
	for _, tc := range cases {
		p := mustParse(t, tc.spec)
		if got := p.String(); got != tc.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tc.spec, got, tc.want)
		}
		again := mustParse(t, p.String())
		if again.String() != p.String() {
			t.Errorf("round trip of %q gave %q", p.String(), again.String())
		}
	}
	for _, spec := range []string{"", "none", "  none "} {
		if p, err := Parse(spec); p != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v, want the full cache (nil, nil)", spec, p, err)
		}
	}
}

// TestNeeds checks what each press asks prefill to gather, merged for compositions.
func TestNeeds(t *testing.T) {
	cases := []struct {
		spec     string
		nilNeeds bool
		window   int
		colSums  bool
	}{
		{"streaming:recent=8", true, 0, false},
		{"h2o:budget=64", false, 0, true},
		{"snapkv:budget=64,window=16", false, 16, false},
		{"think:ratio=0.5,window=8", false, 8, false},
		{"snapkv:budget=64,window=16+think:ratio=0.5", false, 32, false},
		{"h2o:budget=64+think-v:ratio=0.5,window=4", false, 4, true},
		{"streaming:recent=8+streaming:recent=4", true, 0, false},
	}
	for _, tc := range cases {
		n := mustParse(t, tc.spec).Needs()
		if (n == nil) != tc.nilNeeds || n != nil && (n.Window != tc.window || n.WantColSums != tc.colSums) {
			t.Errorf("%s: Needs() = %+v, want window %d, column sums %v (nil: %v)", tc.spec, n, tc.window, tc.colSums, tc.nilNeeds)
		}
	}
	help := Help()
	for _, name := range []string{"none:", "snapkv:", "pyramidkv:", "h2o:", "streaming:", "think:", "think-v:", "(required)"} {
		if !strings.Contains(help, name) {
			t.Errorf("Help() lacks %q", name)
		}
	}
}
