package convert_test

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/thinkv/thinkv/convert"
	"github.com/thinkv/thinkv/engine"
	"github.com/thinkv/thinkv/gguf"
	"github.com/thinkv/thinkv/internal/sharedtest"
	"github.com/thinkv/thinkv/kvcache"
)

// greedy returns the greedy continuation of "Once upon a time" as token ids.
func greedy(t *testing.T, e *engine.Engine, n int) []int {
	t.Helper()
	r, err := e.Generate(engine.Request{Prompt: e.Tok.Encode("Once upon a time", true), MaxNew: n, KVType: kvcache.F32})
	if err != nil {
		t.Fatal(err)
	}
	return r.Tokens
}

func names(f *gguf.File) (keys, tensors []string) {
	for _, kv := range f.KV {
		keys = append(keys, kv.Key)
	}
	for _, ti := range f.Tensors {
		tensors = append(tensors, ti.Name)
	}
	sort.Strings(keys)
	sort.Strings(tensors)
	return keys, tensors
}

// TestConvertStories260K converts the llama2.c checkpoint to GGUF: the layout
// (tensor names, metadata keys) matches llama.cpp's conversion in shared/, f32
// reproduces the checkpoint's greedy text exactly, and q8_0 stays close.
func TestConvertStories260K(t *testing.T) {
	dir := sharedtest.Dir(t)
	bin, tok := dir+"/models/stories260K/stories260K.bin", dir+"/models/stories260K/tok512.bin"
	src, err := engine.Load(bin, tok, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := greedy(t, src, 200)
	ref, err := gguf.Open(dir + "/models/stories260K/stories260K.gguf")
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	refKeys, refTensors := names(ref)
	for _, typName := range []string{"f32", "q8_0"} {
		sc, err := convert.ParseScheme(typName)
		if err != nil {
			t.Fatal(err)
		}
		w, err := convert.ToGGUFScheme(src.Model, src.Tok, sc, "llama")
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(t.TempDir(), typName+".gguf")
		if err := w.WriteFile(out); err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		keys, tensors := names(f)
		if ft, ok := f.Uint("general.file_type"); !ok || ft != map[string]uint64{"f32": 0, "q8_0": 7}[typName] {
			t.Errorf("%s: general.file_type = %d, %v; want llama.cpp's %s", typName, ft, ok, typName)
		}
		if pre, _ := f.String("tokenizer.ggml.pre"); pre != "default" {
			t.Errorf("%s: tokenizer.ggml.pre = %q, want \"default\" for a SentencePiece vocabulary", typName, pre)
		}
		f.Close()
		// llama.cpp's llama2.c converter omits these two
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "general.file_type" || k == "tokenizer.ggml.pre" })
		if strings.Join(keys, " ") != strings.Join(refKeys, " ") || strings.Join(tensors, " ") != strings.Join(refTensors, " ") {
			t.Errorf("%s: layout differs from llama.cpp's\nkeys %v\nwant %v\ntensors %v\nwant %v", typName, keys, refKeys, tensors, refTensors)
		}
		e, err := engine.Load(out, "", 512)
		if err != nil {
			t.Fatal(err)
		}
		if e.Model.Output != e.Model.Embed || e.Model.ParamCount() != src.Model.ParamCount() {
			t.Errorf("%s: tied output %v, %d parameters; the checkpoint is tied with %d", typName,
				e.Model.Output == e.Model.Embed, e.Model.ParamCount(), src.Model.ParamCount())
		}
		got := greedy(t, e, 200)
		e.Close()
		same := 0
		for same < min(len(got), len(want)) && got[same] == want[same] {
			same++
		}
		t.Logf("%s: greedy output agrees with the f32 checkpoint for %d of %d tokens", typName, same, len(want))
		if typName == "f32" && same != len(want) {
			t.Errorf("f32 conversion changed the greedy output at token %d", same)
		}
		if typName == "q8_0" && same < 20 {
			t.Errorf("q8_0 conversion diverges after %d tokens", same)
		}
	}
}
