package model

import (
	"bytes"
	"testing"

	"github.com/thinkv/thinkv/internal/sharedtest"
)

// TestIdentity checks that the same model has one identity whatever its file
// format and context, and that another model, or one changed weight, has
// another.
func TestIdentity(t *testing.T) {
	dir := sharedtest.Dir(t)
	load := func(path string, ctx int) *Model {
		t.Helper()
		m, _, err := Load(path, ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	bin := load(dir+"/models/stories260K/stories260K.bin", 0)
	gg := load(dir+"/models/stories260K/stories260K.gguf", 512)
	needle := load(dir+"/models/needle/needle.gguf", 0)
	id := bin.Identity()
	if len(id) != 32 || !bytes.Equal(id, load(dir+"/models/stories260K/stories260K.bin", 100).Identity()) {
		t.Errorf("the same checkpoint at another context has another identity")
	}
	if bytes.Equal(id, needle.Identity()) {
		t.Errorf("stories260K and needle share an identity")
	}
	// llama.cpp's GGUF of the same weights is the same model.
	if !bytes.Equal(id, gg.Identity()) {
		t.Errorf("stories260K.bin and its GGUF have different identities")
	}
	// One changed weight in the last row of a matrix changes it.
	w := bin.Layers[2].Wv
	saved := append([]byte(nil), w.Data...)
	w.Data = append([]byte(nil), w.Data...)
	w.Data[len(w.Data)-1] ^= 1
	if bytes.Equal(id, bin.Identity()) {
		t.Errorf("a changed weight kept the identity")
	}
	w.Data = saved
	if !bytes.Equal(id, bin.Identity()) {
		t.Errorf("restoring the weight did not restore the identity")
	}
}
