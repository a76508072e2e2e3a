package eval

import (
	"math"
	"strings"
)

// seqMatcher is a Go rendering of Python's difflib.SequenceMatcher over
// code points, with no junk function and the default autojunk heuristic:
// when b has at least 200 elements, elements occurring more than
// len(b)/100+1 times are "popular" and cannot start a match (they can still
// extend one).
type seqMatcher struct {
	a, b []rune
	b2j  map[rune][]int
}

func newSeqMatcher(a, b string) *seqMatcher {
	m := &seqMatcher{a: []rune(a), b: []rune(b), b2j: map[rune][]int{}}
	for j, r := range m.b {
		m.b2j[r] = append(m.b2j[r], j)
	}
	if n := len(m.b); n >= 200 {
		ntest := n/100 + 1
		for r, idx := range m.b2j {
			if len(idx) > ntest {
				delete(m.b2j, r)
			}
		}
	}
	return m
}

// longest returns difflib's find_longest_match(alo, ahi, blo, bhi): the
// longest matching block, earliest in a, then earliest in b, extended over
// equal (popular) neighbours.
func (m *seqMatcher) longest(alo, ahi, blo, bhi int) (int, int, int) {
	besti, bestj, best := alo, blo, 0
	j2len := map[int]int{}
	for i := alo; i < ahi; i++ {
		next := map[int]int{}
		for _, j := range m.b2j[m.a[i]] {
			if j < blo {
				continue
			}
			if j >= bhi {
				break
			}
			k := j2len[j-1] + 1
			next[j] = k
			if k > best {
				besti, bestj, best = i-k+1, j-k+1, k
			}
		}
		j2len = next
	}
	for besti > alo && bestj > blo && m.a[besti-1] == m.b[bestj-1] {
		besti, bestj, best = besti-1, bestj-1, best+1
	}
	for besti+best < ahi && bestj+best < bhi && m.a[besti+best] == m.b[bestj+best] {
		best++
	}
	return besti, bestj, best
}

// matches is the total size of get_matching_blocks().
func (m *seqMatcher) matches() int {
	type span struct{ alo, ahi, blo, bhi int }
	queue := []span{{0, len(m.a), 0, len(m.b)}}
	total := 0
	for len(queue) > 0 {
		s := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		i, j, k := m.longest(s.alo, s.ahi, s.blo, s.bhi)
		if k == 0 {
			continue
		}
		total += k
		if s.alo < i && s.blo < j {
			queue = append(queue, span{s.alo, i, s.blo, j})
		}
		if i+k < s.ahi && j+k < s.bhi {
			queue = append(queue, span{i + k, s.ahi, j + k, s.bhi})
		}
	}
	return total
}

// SequenceRatio is difflib.SequenceMatcher(None, a, b).ratio(): 2M/T.
func SequenceRatio(a, b string) float64 {
	m := newSeqMatcher(a, b)
	t := len(m.a) + len(m.b)
	if t == 0 {
		return 1
	}
	return 2 * float64(m.matches()) / float64(t)
}

// FuzzRatio is fuzzywuzzy's fuzz.ratio as LongBench runs it (pure Python,
// difflib): 100 for equal strings, 0 if either is empty, else
// round-half-even(100·SequenceRatio).
func FuzzRatio(a, b string) int {
	if a == b {
		return 100
	}
	if a == "" || b == "" {
		return 0
	}
	return int(math.RoundToEven(100 * SequenceRatio(a, b)))
}

// CodeSimScore is LongBench's code_sim_score (lcc, repobench-p): the first
// line of pred (after leading newlines) that holds no "`", "#" or "//",
// compared with gt by FuzzRatio/100.
func CodeSimScore(pred, gt string) float64 {
	line := ""
	for _, l := range strings.Split(strings.TrimLeft(pred, "\n"), "\n") {
		if !strings.Contains(l, "`") && !strings.Contains(l, "#") && !strings.Contains(l, "//") {
			line = l
			break
		}
	}
	return float64(FuzzRatio(line, gt)) / 100
}
