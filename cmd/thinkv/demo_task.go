package main

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/thinkv/thinkv/eval"
	"github.com/thinkv/thinkv/tokenizer"
)

// needleTask is the demo's retrieval task, built in so the demo needs no
// data: a seven-digit number for a two-word key hidden in repeated filler at
// a depth spread over the samples, asked for in the format the needle model
// was trained on (RULER's niah_single_1).
type needleTask struct{}

const (
	needleHeader = "A special magic number is hidden within the following text. Make sure to memorize it. I will quiz you about the number afterwards.\n"
	needleFiller = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. "
)

var (
	needleAdjectives = []string{"quiet", "amber", "brave", "hollow", "silver", "gentle", "crooked", "vivid"}
	needleNouns      = []string{"harbor", "lantern", "meadow", "engine", "violin", "orchard", "compass", "glacier"}
)

func (needleTask) Name() string { return "needle" }

// Samples makes opts.Samples prompts of about each of opts.Lengths tokens,
// deterministic for opts.Seed.
func (needleTask) Samples(tok *tokenizer.Tokenizer, opts eval.Options) ([]eval.Sample, error) {
	var out []eval.Sample
	for _, n := range opts.Lengths {
		for i := 0; i < opts.Samples; i++ {
			r := rand.New(rand.NewPCG(opts.Seed, uint64(n)<<32|uint64(i)))
			key := needleAdjectives[r.IntN(len(needleAdjectives))] + "-" + needleNouns[r.IntN(len(needleNouns))]
			value := fmt.Sprint(1_000_000 + r.IntN(9_000_000))
			question := "\nWhat is the special magic number for " + key + " mentioned in the provided text?"
			prefix := " The special magic number for " + key + " mentioned in the provided text is"
			fixed := len(tok.Encode(needleHeader+question+prefix, true)) + len(tok.Encode(needleFiller, false)) // room for the needle
			copies := max(1, (n-fixed)/len(tok.Encode(needleFiller, false)))
			depth := 0.0
			if opts.Samples > 1 {
				depth = float64(100 * i / (opts.Samples - 1))
			}
			at := int(depth / 100 * float64(copies))
			hay := strings.Repeat(needleFiller, at) + "One of the special magic numbers for " + key + " is: " + value + ". " +
				strings.Repeat(needleFiller, copies-at)
			s := eval.Sample{ID: fmt.Sprintf("L%d-%d", n, i), Task: "needle", Context: needleHeader + hay, Question: question,
				AnswerPrefix: prefix, Answers: []string{value}, MaxNew: 12, Depth: depth}
			s.Length = len(tok.Encode(s.Context+s.Question+s.AnswerPrefix, true))
			out = append(out, s)
		}
	}
	return out, nil
}

// Score is 1 if the prediction contains the number.
func (needleTask) Score(s eval.Sample, prediction string) float64 {
	if strings.Contains(prediction, s.Answers[0]) {
		return 1
	}
	return 0
}
