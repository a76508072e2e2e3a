package tokenizer

import (
	"fmt"
)

// hfComponent is a normalizer, pre-tokenizer or post-processor in
// tokenizer.json; which fields matter depends on Type.
type hfComponent struct {
	Type          string         `json:"type"`
	Normalizers   []*hfComponent `json:"normalizers"`
	Pretokenizers []*hfComponent `json:"pretokenizers"`
	Processors    []*hfComponent `json:"processors"`

	Prepend  string    `json:"prepend"`  // Prepend
	Pattern  hfPattern `json:"pattern"`  // Replace, Split
	Content  string    `json:"content"`  // Replace
	Behavior string    `json:"behavior"` // Split
	Invert   bool      `json:"invert"`   // Split

	AddPrefixSpace *bool  `json:"add_prefix_space"` // ByteLevel, legacy Metaspace
	UseRegex       *bool  `json:"use_regex"`        // ByteLevel
	Replacement    string `json:"replacement"`      // Metaspace
	PrependScheme  string `json:"prepend_scheme"`   // Metaspace
	Split          *bool  `json:"split"`            // Metaspace

	Single        []hfTemplatePiece          `json:"single"`         // TemplateProcessing
	SpecialTokens map[string]hfTemplateToken `json:"special_tokens"` // TemplateProcessing
}

type hfPattern struct {
	String *string `json:"String"`
	Regex  *string `json:"Regex"`
}

type hfTemplatePiece struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
}

type hfTemplateToken struct {
	IDs []int `json:"ids"`
}

// hfPipeline is what a tokenizer.json's normalizer and pre-tokenizer do.
type hfPipeline struct {
	byteLevel bool
	ops       []textOp
	steps     []splitStep
	prefix    bool // a "▁" is prepended, so decoding drops a leading space
}

// normalizer adds the steps of a normalizer. NFC is accepted and not
// applied, as llama.cpp does not apply it either (Qwen2 asks for it).
func (p *hfPipeline) normalizer(c *hfComponent) error {
	if c == nil {
		return nil
	}
	switch c.Type {
	case "Sequence":
		for _, n := range c.Normalizers {
			if err := p.normalizer(n); err != nil {
				return err
			}
		}
	case "Prepend":
		p.ops = append(p.ops, textOp{kind: opPrepend, to: c.Prepend})
		p.prefix = p.prefix || c.Prepend == spaceSymbol
	case "Replace":
		if c.Pattern.String == nil || *c.Pattern.String == "" {
			return fmt.Errorf("unsupported Replace normalizer (only a non-empty String pattern)")
		}
		p.ops = append(p.ops, textOp{kind: opReplace, from: *c.Pattern.String, to: c.Content})
	case "NFC":
	default:
		return fmt.Errorf("unsupported normalizer %q", c.Type)
	}
	return nil
}

// preTokenizer adds the steps of a pre-tokenizer; first tells whether it
// sees the whole text (and not the pieces of an earlier pre-tokenizer).
func (p *hfPipeline) preTokenizer(c *hfComponent, first bool) error {
	if c == nil {
		return nil
	}
	switch c.Type {
	case "Sequence":
		for i, x := range c.Pretokenizers {
			if err := p.preTokenizer(x, first && i == 0); err != nil {
				return err
			}
		}
	case "Split":
		if c.Invert || c.Behavior != "Isolated" && c.Behavior != "Removed" {
			return fmt.Errorf("unsupported Split behavior %q (invert %v)", c.Behavior, c.Invert)
		}
		st := splitStep{remove: c.Behavior == "Removed"}
		switch {
		case c.Pattern.Regex != nil:
			sp, err := compileSplitter(*c.Pattern.Regex)
			if err != nil {
				return err
			}
			st.splitter, st.pattern = sp, *c.Pattern.Regex
		case c.Pattern.String != nil:
			st.splitter = literalSplitter(*c.Pattern.String)
		default:
			return fmt.Errorf("Split without a pattern")
		}
		p.steps = append(p.steps, st)
	case "ByteLevel":
		p.byteLevel = true
		if c.AddPrefixSpace != nil && *c.AddPrefixSpace {
			if !first {
				return fmt.Errorf("unsupported ByteLevel add_prefix_space after another pre-tokenizer")
			}
			p.ops = append(p.ops, textOp{kind: opPrefix, to: " "})
		}
		if c.UseRegex == nil || *c.UseRegex {
			p.steps = append(p.steps, splitStep{splitter: splitGPT2, pattern: gpt2Pattern})
		}
	case "Metaspace":
		return p.metaspace(c, first)
	default:
		return fmt.Errorf("unsupported pre-tokenizer %q", c.Type)
	}
	return nil
}

// metaspace adds a Metaspace pre-tokenizer: spaces become "▁", a "▁" is
// prepended (always, at the start of the text only, or never), and with
// split each "▁" starts a new pre-token.
func (p *hfPipeline) metaspace(c *hfComponent, first bool) error {
	if c.Replacement != spaceSymbol {
		return fmt.Errorf("unsupported Metaspace replacement %q", c.Replacement)
	}
	if !first {
		return fmt.Errorf("unsupported Metaspace after another pre-tokenizer")
	}
	p.ops = append(p.ops, textOp{kind: opReplace, from: " ", to: spaceSymbol})
	scheme := c.PrependScheme
	if scheme == "" {
		scheme = "always"
		if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
			scheme = "never"
		}
	}
	switch scheme {
	case "always":
		p.ops = append(p.ops, textOp{kind: opPrefix, to: spaceSymbol})
	case "first":
		p.ops = append(p.ops, textOp{kind: opPrefixAt0, to: spaceSymbol})
	case "never":
	default:
		return fmt.Errorf("unsupported Metaspace prepend_scheme %q", scheme)
	}
	p.prefix = p.prefix || scheme != "never"
	if c.Split == nil || *c.Split {
		p.steps = append(p.steps, splitStep{splitter: metaSplitter{}})
	}
	return nil
}

// templateBOS returns the special token that a TemplateProcessing
// post-processor (alone or in a Sequence) puts before a single text: its id,
// or if the template gives none its name; ok is false if there is none.
func templateBOS(c *hfComponent) (id int, name string, ok bool) {
	if c == nil {
		return -1, "", false
	}
	switch c.Type {
	case "Sequence":
		for _, x := range c.Processors {
			if id, name, ok := templateBOS(x); ok {
				return id, name, true
			}
		}
	case "TemplateProcessing":
		if len(c.Single) == 0 || c.Single[0].SpecialToken == nil {
			return -1, "", false
		}
		name := c.Single[0].SpecialToken.ID
		if ids := c.SpecialTokens[name].IDs; len(ids) == 1 {
			return ids[0], name, true
		}
		return -1, name, true
	}
	return -1, "", false
}
