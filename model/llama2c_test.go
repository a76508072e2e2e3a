package model_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/model"
)

// tinyCheckpoint returns a valid llama2.c checkpoint with the given header,
// filled with small floats; a negative vocab adds the separate classifier.
func tinyCheckpoint(dim, hidden, layers, heads, kvHeads, vocab, seq int32) []byte {
	hd := dim / heads
	kv := kvHeads * hd
	v := int(max(vocab, -vocab))
	n := v*int(dim) + int(layers)*int(2*dim+2*dim*dim+2*kv*dim+3*hidden*dim) + int(dim) + int(seq*hd)
	if vocab < 0 {
		n += v * int(dim)
	}
	b := make([]byte, 28+4*n)
	for i, v := range []int32{dim, hidden, layers, heads, kvHeads, vocab, seq} {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(b[28+4*i:], math.Float32bits(float32(i%7)*0.01))
	}
	return b
}

func TestParseLlama2CHostile(t *testing.T) {
	good := tinyCheckpoint(8, 16, 1, 2, 1, 4, 4)
	if _, err := model.ParseLlama2C(good); err != nil {
		t.Fatalf("valid checkpoint: %v", err)
	}
	for n := 0; n < len(good); n += 3 {
		if _, err := model.ParseLlama2C(good[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: no error", n)
		}
	}
	header := func(h ...int32) []byte {
		b := append([]byte(nil), good...)
		for i, v := range h {
			binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
		}
		return b
	}
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"zero dim":                         {header(0), "positive"},
		"negative layers":                  {header(8, 16, -1), "positive"},
		"heads not a multiple of kv heads": {header(8, 16, 1, 2, 3), "multiple"},
		"absurd dim":                       {header(1 << 30), "range"},
		"absurd vocab":                     {header(8, 16, 1, 2, 1, 1<<30), "range"},
		"odd head dim":                     {header(6, 16, 1, 2, 1), "head dimension"},
		"huge context":                     {header(8, 16, 1, 2, 1, 4, 1<<30), "context"},
	} {
		_, err := model.ParseLlama2C(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.want)
		}
	}
}

func FuzzParseLlama2C(f *testing.F) {
	f.Add(tinyCheckpoint(8, 16, 1, 2, 1, 4, 4))
	f.Add(tinyCheckpoint(8, 16, 2, 2, 2, -4, 2))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := model.ParseLlama2C(data)
		if err != nil {
			return
		}
		if m.ParamCount() <= 0 || len(m.Layers) != m.Config.Layers {
			t.Fatalf("accepted an inconsistent model: %+v", m.Config)
		}
	})
}

// TestParseLlama2CSize checks that the file must be exactly as long as its
// header says: a header describing a smaller model than the file holds (which
// used to load and print junk), or a file with bytes missing, is an error
// giving both sizes; a separate classifier counts.
func TestParseLlama2CSize(t *testing.T) {
	shared := tinyCheckpoint(8, 16, 2, 2, 1, 4, 4)
	unshared := tinyCheckpoint(8, 16, 2, 2, 1, -4, 4)
	for _, good := range [][]byte{shared, unshared} {
		m, err := model.ParseLlama2C(good)
		if err != nil {
			t.Fatalf("valid checkpoint: %v", err)
		}
		if tied := m.Output == m.Embed; tied != (len(good) == len(shared)) {
			t.Errorf("%d-byte checkpoint: tied output %v", len(good), tied)
		}
	}
	oneLayer := append([]byte(nil), shared...)
	binary.LittleEndian.PutUint32(oneLayer[8:], 1)
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"one float short":          {shared[:len(shared)-4], fmt.Sprintf("file is %d bytes, but its header", len(shared)-4)},
		"one float extra":          {append(append([]byte(nil), shared...), 0, 0, 0, 0), fmt.Sprintf("needs exactly %d", len(shared))},
		"one byte extra":           {append(append([]byte(nil), shared...), 0), fmt.Sprintf("file is %d bytes", len(shared)+1)},
		"header says fewer layers": {oneLayer, "layers 1"},
		"classifier missing":       {unshared[:len(shared)], "separate classifier) needs exactly"},
		"classifier extra":         {append(append([]byte(nil), shared[:28]...), unshared[28:]...), "shared classifier) needs exactly"},
	} {
		_, err := model.ParseLlama2C(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tc.want)
		}
	}
	for _, p := range [][]string{{"stories260K", "stories260K.bin"}, {"needle", "needle.bin"}} {
		m, err := model.LoadLlama2C(sharedPath(t, "models", p[0], p[1]))
		if err != nil {
			t.Errorf("%s: %v", p[1], err)
			continue
		}
		m.Close()
	}
}

// TestLlama2CAndGGUFAgree checks that both forms of stories260K hold the same weights.
func TestLlama2CAndGGUFAgree(t *testing.T) {
	a := loadStories(t, false)
	b := loadStories(t, true)
	if a.Config != b.Config {
		t.Fatalf("configs differ:\n%+v\n%+v", a.Config, b.Config)
	}
	// llama.cpp's GGUF stores the tied classifier again as output.weight.
	if b.Output != b.Embed || a.ParamCount() != b.ParamCount() {
		t.Errorf("GGUF: tied output %v, %d parameters; the checkpoint is tied with %d",
			b.Output == b.Embed, b.ParamCount(), a.ParamCount())
	}
	ra, rb := make([]float32, a.Dim), make([]float32, a.Dim)
	for r := 0; r < a.Vocab; r++ {
		a.Embed.Row(ra, r)
		b.Embed.Row(rb, r)
		if maxDiff(ra, rb) != 0 {
			t.Fatalf("embedding row %d differs", r)
		}
	}
	if _, err := os.Stat(sharedtest.Path(t, "models", "needle", "needle.bin")); err != nil {
		t.Fatal(err)
	}
}

func sharedPath(t testing.TB, elem ...string) string { return sharedtest.Path(t, elem...) }
