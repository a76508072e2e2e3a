package eval

import "github.com/thinkv/thinkv/tokenizer"

// Sample is one evaluation prompt with its references.
type Sample struct {
	ID   string `json:"id"`
	Task string `json:"task"`
	// Context is the part of the prompt a query-agnostic run compresses before
	// it sees Question; a query-aware run compresses Context+Question.
	Context  string `json:"context"`
	Question string `json:"question"`
	// AnswerPrefix is appended after the question (RULER's "The special magic
	// number … is"), then the model generates up to MaxNew tokens.
	AnswerPrefix string   `json:"answer_prefix"`
	Answers      []string `json:"answers"`
	MaxNew       int      `json:"max_new"`
	// Length is the prompt length in the model's tokens; Depth the needle
	// depth in percent where the task has one (NIAH), else -1.
	Length int     `json:"length"`
	Depth  float64 `json:"depth"`
}

// Options select and size a task's samples.
type Options struct {
	Lengths []int  // target prompt lengths in tokens
	Samples int    // samples per length (and depth, for NIAH)
	Seed    uint64 // generation seed
	DataDir string // where the task's files are (haystack, word lists, jsonl)
}

// Task makes samples and scores predictions.
type Task interface {
	// Name returns the task's name as given to --task, e.g. "ruler:niah_single_1".
	Name() string
	// Samples returns the task's samples, deterministic for opts.Seed.
	Samples(tok *tokenizer.Tokenizer, opts Options) ([]Sample, error)
	// Score returns the sample's score for a prediction, in [0, 1].
	Score(s Sample, prediction string) float64
}
