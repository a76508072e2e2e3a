package press

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kernels"
	"github.com/thinkv/thinkv/kvcache"
	"github.com/thinkv/thinkv/model"
)

// stories is the stories260K model (5 layers, 8 query heads, 4 KV heads of
// 8 channels) with a natural ≈450-token prompt: the 256 tokens of the golden
// "Once upon a time" run, continued greedily.
type stories struct {
	m      *model.Model
	pool   *kernels.Pool
	prompt []int
}

const promptLen = 450

var shared struct {
	sync.Once
	st  *stories
	err error
}

// loadStories loads the model and builds the prompt once for all tests.
func loadStories(t *testing.T) *stories {
	t.Helper()
	modelPath := sharedtest.Path(t, "models", "stories260K", "stories260K.bin")
	goldenPath := sharedtest.Path(t, "golden", "stories260K", "golden.json")
	shared.Do(func() { shared.st, shared.err = newStories(modelPath, goldenPath) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.st
}

func newStories(modelPath, goldenPath string) (*stories, error) {
	m, _, err := model.Load(modelPath, 512)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(goldenPath)
	if err != nil {
		return nil, err
	}
	var g struct {
		Once struct {
			Tokens []int `json:"input_token_per_position"`
		} `json:"once_upon_a_time"`
	}
	if err := json.Unmarshal(raw, &g); err != nil || len(g.Once.Tokens) != 256 {
		return nil, fmt.Errorf("golden.json: %v (%d tokens)", err, len(g.Once.Tokens))
	}
	st := &stories{m: m, pool: kernels.NewPool(0), prompt: g.Once.Tokens}
	c, _ := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: kvcache.F32, Capacity: promptLen})
	s := m.NewState(st.pool, 64)
	logits, err := m.Forward(s, c, st.prompt, false, nil)
	for err == nil && len(st.prompt) < promptLen {
		next := argmax(logits)
		st.prompt = append(st.prompt, next)
		logits, err = m.Forward(s, c, []int{next}, false, nil)
	}
	return st, err
}

func (st *stories) forward(t *testing.T, s *model.State, c *kvcache.Cache, tokens []int, obs *kvcache.Observation) []float32 {
	t.Helper()
	logits, err := st.m.Forward(s, c, tokens, false, obs)
	if err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), logits...)
}

// prefill runs the prompt into a new cache of the given capacity and returns
// it uncompressed, with the observation spec's press asked for (nil: none).
func (st *stories) prefill(t *testing.T, spec string, typ kvcache.DType, capacity int) (*kvcache.Cache, *model.State, *kvcache.Observation) {
	t.Helper()
	m := st.m
	c, err := kvcache.New(kvcache.Config{Layers: m.Config.Layers, KVHeads: m.KVHeads, HeadDim: m.HeadDim, Type: typ, Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	s := m.NewState(st.pool, 64)
	var obs *kvcache.Observation
	if p, _ := Parse(spec); p != nil {
		obs = p.Needs()
	}
	st.forward(t, s, c, st.prompt, obs)
	return c, s, obs
}

// decode teacher-forces tokens after the prompt, returning each step's logits.
func (st *stories) decode(t *testing.T, s *model.State, c *kvcache.Cache, p Press, tokens []int) [][]float32 {
	t.Helper()
	var out [][]float32
	for _, tok := range tokens {
		out = append(out, st.forward(t, s, c, []int{tok}, nil))
		if p != nil {
			p.Step(c)
		}
	}
	return out
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// TestGoldenKVMatchesModel checks the reading of once_upon_a_time.kv_qlast.bin
// used by TestThinKGolden: the model's own cache and last queries agree with it.
func TestGoldenKVMatchesModel(t *testing.T) {
	st := loadStories(t)
	m := st.m
	data, err := os.ReadFile(sharedtest.Path(t, "golden", "stories260K", "once_upon_a_time.kv_qlast.bin"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := kvcache.New(kvcache.Config{Layers: 5, KVHeads: 4, HeadDim: 8, Type: kvcache.F32, Capacity: 256})
	obs := &kvcache.Observation{Window: 1}
	st.forward(t, m.NewState(st.pool, 64), c, st.prompt[:256], obs)
	at := func(i int) float64 { return float64(math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))) }
	row, worst := make([]float32, 8), 0.0
	for l := range 5 {
		for p := range 256 {
			for g := range 4 {
				c.Head(l, g).Key(row, p)
				for j, x := range row {
					worst = math.Max(worst, math.Abs(float64(x)-at(((l*256+p)*4+g)*8+j)))
				}
			}
		}
		for i, x := range obs.Queries[l] {
			worst = math.Max(worst, math.Abs(float64(x)-at(2*5*256*32+l*64+i)))
		}
	}
	if worst > 1e-4 {
		t.Fatalf("model keys/queries differ from the golden file by %g", worst)
	}
}

// TestThinKZeroBitIdentical: think:ratio=0 (and think-v:ratio=0) without
// eviction must give decode logits bit-identical to no press.
func TestThinKZeroBitIdentical(t *testing.T) {
	st := loadStories(t)
	const steps = 12
	for _, typ := range []kvcache.DType{kvcache.F16, kvcache.F32} {
		c, s, _ := st.prefill(t, "", typ, promptLen+steps)
		var forced []int
		for range steps {
			forced = append(forced, (len(forced)*37+5)%st.m.Vocab)
		}
		want := st.decode(t, s, c, nil, forced)
		for _, spec := range []string{"think:ratio=0", "think:ratio=0+think-v:ratio=0"} {
			p := mustParse(t, spec)
			c, s, obs := st.prefill(t, spec, typ, promptLen+steps)
			if err := p.Compress(c, obs, st.m.Heads); err != nil {
				t.Fatal(err)
			}
			for i, got := range st.decode(t, s, c, p, forced) {
				for j := range got {
					if math.Float32bits(got[j]) != math.Float32bits(want[i][j]) {
						t.Fatalf("%s %v step %d: logit %d is %v, want %v bit for bit", spec, typ, i, j, got[j], want[i][j])
					}
				}
			}
		}
	}
}
