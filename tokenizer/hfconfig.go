package tokenizer

import (
	"encoding/json"
	"fmt"
)

// hfConfig holds the special-token fields of tokenizer_config.json,
// generation_config.json and config.json.
type hfConfig struct {
	BOSToken hfTokenName `json:"bos_token"`
	EOSToken hfTokenName `json:"eos_token"`
	AddBOS   *bool       `json:"add_bos_token"`
	BOSID    hfIDs       `json:"bos_token_id"`
	EOSID    hfIDs       `json:"eos_token_id"`
}

// hfTokenName is a token written as its text or as an object with its
// "content"; other shapes read as no token.
type hfTokenName string

func (n *hfTokenName) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		*n = hfTokenName(s)
		return nil
	}
	var o struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(data, &o) == nil {
		*n = hfTokenName(o.Content)
	}
	return nil
}

// hfIDs is a token id or a list of them; other shapes read as none.
type hfIDs []int

func (ids *hfIDs) UnmarshalJSON(data []byte) error {
	var one int
	if json.Unmarshal(data, &one) == nil {
		*ids = hfIDs{one}
		return nil
	}
	var list []int
	if json.Unmarshal(data, &list) == nil {
		*ids = list
	}
	return nil
}

// eosNames are the usual EOS pieces, for tokenizers that come without a
// configuration naming theirs.
var eosNames = []string{"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>"}

// hfSpecials sets v's BOS, EOS, AddBOS and EOG from the post-processor and
// the configuration files (see ParseHF).
func hfSpecials(v *Vocab, f *hfFile, files HFFiles) error {
	var tc, gc, mc hfConfig
	for _, c := range []struct {
		name string
		data []byte
		dst  *hfConfig
	}{
		{"tokenizer_config.json", files.TokenizerConfig, &tc},
		{"generation_config.json", files.GenerationConfig, &gc},
		{"config.json", files.Config, &mc},
	} {
		if c.data == nil {
			continue
		}
		if err := json.Unmarshal(c.data, c.dst); err != nil {
			return fmt.Errorf("tokenizer: %s: %w", c.name, err)
		}
	}
	byName := func(name string) int {
		if name == "" {
			return -1
		}
		for _, a := range f.AddedTokens {
			if a.Content == name {
				return a.ID
			}
		}
		if id, ok := f.Model.Vocab[name]; ok {
			return id
		}
		return -1
	}
	valid := func(id int) bool { return id >= 0 && id < len(v.Pieces) }
	first := func(ids ...int) int {
		for _, id := range ids {
			if valid(id) {
				return id
			}
		}
		return -1
	}
	at0 := func(ids hfIDs) int {
		if len(ids) == 0 {
			return -1
		}
		return ids[0]
	}

	id, name, ok := templateBOS(f.PostProcessor)
	if ok {
		v.BOS, v.AddBOS = first(id, byName(name)), true
	} else {
		v.BOS = first(byName(string(tc.BOSToken)), at0(gc.BOSID), at0(mc.BOSID))
		v.AddBOS = tc.AddBOS != nil && *tc.AddBOS && v.BOS >= 0
	}
	v.EOS = first(byName(string(tc.EOSToken)), at0(gc.EOSID), at0(mc.EOSID))
	for _, n := range eosNames {
		if v.EOS >= 0 {
			break
		}
		for _, a := range f.AddedTokens {
			if a.Content == n {
				v.EOS = a.ID
			}
		}
	}
	for _, id := range append(gc.EOSID, mc.EOSID...) {
		if valid(id) {
			v.EOG = append(v.EOG, id)
		}
	}
	return nil
}
