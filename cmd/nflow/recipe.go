// Copyright ©2026 The flow Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A recipe is a named set of fit's flags: the model and training settings
// of a published result. Flags given on the command line win over the
// recipe's, so that a recipe can be scaled to the data at hand.
type recipe struct {
	name, paper string
	flags       []recipeFlag
}

type recipeFlag struct{ name, value string }

// recipes are the recipes of fit -recipe, in the order -help lists them.
var recipes = []recipe{
	{
		// Papamakarios, Pavlakou and Murray (2017), "Masked Autoregressive
		// Flow for Density Estimation", MAF (5) of their UCI experiments
		// with a mixture-of-Gaussians base: 5 MAF layers, each MADE of 2
		// hidden layers of 100 ReLU units, with batch normalisation
		// between the layers (the statistics of the whole training set
		// stored for evaluation), a base of 10 diagonal Gaussians; Adam at
		// 1e-4, minibatches of 100, early stopping after 30 epochs without
		// a better validation loss.
		name:  "maf-paper",
		paper: "Papamakarios et al. (2017), MAF (5) with batch normalisation and a MoG base, UCI settings",
		flags: []recipeFlag{
			{"model", "maf"}, {"layers", "5"}, {"hidden", "100,100"}, {"act", "relu"}, {"batchnorm", "true"},
			{"base", "mog"}, {"components", "10"},
			{"lr", "1e-4"}, {"batch", "100"}, {"patience", "30"},
		},
	},
	{
		// Durkan, Bekasov, Murray and Papamakarios (2019), "Neural Spline
		// Flows", the RQ-NSF (C) of their tabular density experiments with
		// the settings of their appendix's table for POWER: 10 steps of a
		// random permutation, an LU-factored linear layer and a
		// rational-quadratic spline coupling of K = 8 bins on [−3, 3], whose
		// conditioner is a residual network of 2 blocks of 256 ReLU units;
		// Adam at 5e-4 annealed to 0 by a cosine, minibatches of 512, the
		// gradient's norm clipped at 5.
		name:  "nsf-paper",
		paper: "Durkan et al. (2019), RQ-NSF (C), tabular settings for POWER",
		flags: []recipeFlag{
			{"model", "nsf"}, {"layers", "10"}, {"lu", "true"}, {"hidden", "256"}, {"residual", "2"},
			{"act", "relu"}, {"bins", "8"}, {"bound", "3"},
			{"lr", "5e-4"}, {"cosine", "true"}, {"batch", "512"}, {"clip", "5"},
		},
	},
}

// recipeNames lists the recipes for messages: a, b or c.
func recipeNames() string {
	var names []string
	for _, r := range recipes {
		names = append(names, r.name)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// applyRecipe sets the flags of the recipe called name on fs, except those
// given on the command line, and says on w what it set and what it left.
// An empty name does nothing.
func applyRecipe(fs *flag.FlagSet, name string, w io.Writer) error {
	if name == "" {
		return nil
	}
	i := slices.IndexFunc(recipes, func(r recipe) bool { return r.name == name })
	if i < 0 {
		return usageError{fmt.Sprintf("-recipe: %q is not %s", name, recipeNames())}
	}
	r := recipes[i]
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var set, kept []string
	for _, f := range r.flags {
		if given[f.name] {
			kept = append(kept, "-"+f.name)
			continue
		}
		if err := fs.Set(f.name, f.value); err != nil {
			// The recipes are the program's own: a failure is a bug.
			panic(fmt.Sprintf("recipe %s: -%s %s: %v", r.name, f.name, f.value, err))
		}
		set = append(set, "-"+f.name+" "+f.value)
	}
	fmt.Fprintf(w, "recipe %s (%s): %s\n", r.name, r.paper, strings.Join(set, " "))
	if len(kept) > 0 {
		fmt.Fprintf(w, "recipe %s: %s as given on the command line\n", r.name, strings.Join(kept, ", "))
	}
	return nil
}

// registerSteps registers the flags of fit and demo that add layers to
// every step of a flow (-lu, -actnorm, -batchnorm) and -recipe, whose
// value it returns.
func (o *modelOptions) registerSteps(fs *flag.FlagSet) *string {
	fs.BoolVar(&o.lu, "lu", false, "an LU-factored linear layer (a trained invertible linear map of the columns, starting as the identity) on the data side of every coupling, spline or MAF layer")
	fs.BoolVar(&o.actnorm, "actnorm", false, "an ActNorm layer (a trained scale and shift per column, initialised on the training rows to give its output mean 0 and variance 1) on the data side of every coupling, spline or MAF layer, and of its -lu layer")
	fs.BoolVar(&o.batchnorm, "batchnorm", false, "a BatchNorm layer (batch normalisation as a bijection, as in the MAF paper: a trained log-scale and shift per column; training normalises by each minibatch's mean and variance, and the model stores those of all the training rows for evaluation) on the data side of every coupling, spline or MAF layer, between it and its -lu and -actnorm layers")
	return fs.String("recipe", "", "the model and training flags of a published result, "+recipeNames()+" (see the README); flags given on the command line win over the recipe's")
}
