package dossier_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
	"github.com/xaso/xaso/dossier"
	"github.com/xaso/xaso/sample"
)

// fullRating rates every content of Decree 118/2025 art. 33(1) at level.
func fullRating(level xasov1.Satisfaction) *xasov1.Rating {
	r := &xasov1.Rating{Channel: xasov1.RatingChannel_RATING_CHANNEL_LOOKUP}
	for _, c := range dossier.Contents {
		r.Scores = append(r.Scores, &xasov1.RatingScore{Content: c.Content, Level: level})
	}
	return r
}

// without is r less the score of content c.
func without(r *xasov1.Rating, c xasov1.RatingContent) *xasov1.Rating {
	out := proto.Clone(r).(*xasov1.Rating)
	out.Scores = nil
	for _, s := range r.GetScores() {
		if s.GetContent() != c {
			out.Scores = append(out.Scores, s)
		}
	}
	return out
}

func TestContentsAreArticle33(t *testing.T) {
	// Art. 33(1) has nine points, (a) to (i), without (f): Vietnamese
	// lettering goes a, b, c, d, đ, e, g, h, i.
	var points []string
	for i, c := range dossier.Contents {
		if int(c.Content) != i+1 {
			t.Errorf("content %d is %s: the contents are in enum order", i, c.Content)
		}
		points = append(points, c.Point)
	}
	if got := strings.Join(points, ","); got != "a,b,c,d,đ,e,g,h,i" {
		t.Errorf("points %s, want the nine of art. 33(1)", got)
	}
	if len(dossier.Contents) != len(xasov1.RatingContent_name)-1 {
		t.Errorf("%d contents, %d in the enum", len(dossier.Contents), len(xasov1.RatingContent_name)-1)
	}
}

func TestValidateRating(t *testing.T) {
	very := dossier.VerySatisfied
	tests := []struct {
		name   string
		rating *xasov1.Rating
		field  string // "" when valid
	}{
		{"all nine contents of art. 33(1) rated", fullRating(very), ""},
		{"art. 33(1)(g) left out: no complaint was made", without(fullRating(very), xasov1.RatingContent_RATING_CONTENT_COMPLAINT_HANDLING), ""},
		{"art. 33(1)(h) left out: no online service was used", without(fullRating(very), xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE), ""},
		{"art. 33(1)(i) only as a comment", func() *xasov1.Rating {
			r := without(fullRating(very), xasov1.RatingContent_RATING_CONTENT_OTHER)
			r.Comment = "Cán bộ hướng dẫn tận tình.\nCảm ơn."
			return r
		}(), ""},
		{"no rating", nil, "rating"},
		{"art. 33(1)(a) time of return left out", without(fullRating(very), xasov1.RatingContent_RATING_CONTENT_RETURN_TIME), "rating.scores"},
		{"art. 33(1)(đ) staff conduct left out", without(fullRating(very), xasov1.RatingContent_RATING_CONTENT_STAFF_CONDUCT), "rating.scores"},
		{"art. 33(1)(e) lawfulness and cost left out", without(fullRating(very), xasov1.RatingContent_RATING_CONTENT_RESULT_AND_COST), "rating.scores"},
		{"a content twice", func() *xasov1.Rating {
			r := fullRating(very)
			r.Scores[1].Content = r.Scores[0].Content
			return r
		}(), "rating.scores[1].content"},
		{"contents out of order", func() *xasov1.Rating {
			r := fullRating(very)
			r.Scores[0], r.Scores[1] = r.Scores[1], r.Scores[0]
			return r
		}(), "rating.scores[1].content"},
		{"a content art. 33(1) does not have", func() *xasov1.Rating {
			r := fullRating(very)
			r.Scores[8].Content = 10
			return r
		}(), "rating.scores[8].content"},
		{"a level off the scale", func() *xasov1.Rating {
			r := fullRating(very)
			r.Scores[2].Level = 7
			return r
		}(), "rating.scores[2].level"},
		{"a content without a level", func() *xasov1.Rating {
			r := fullRating(very)
			r.Scores[3].Level = 0
			return r
		}(), "rating.scores[3].level"},
		{"more scores than contents", func() *xasov1.Rating {
			r := fullRating(very)
			r.Scores = append(r.Scores, r.Scores...)
			return r
		}(), "rating.scores"},
		{"a comment too long", func() *xasov1.Rating {
			r := fullRating(very)
			r.Comment = strings.Repeat("ý", dossier.MaxRatingCommentBytes)
			return r
		}(), "rating.comment"},
		{"a control character in the comment", func() *xasov1.Rating {
			r := fullRating(very)
			r.Comment = "tốt\x1b[2J"
			return r
		}(), "rating.comment"},
		{"no channel", func() *xasov1.Rating {
			r := fullRating(very)
			r.Channel = 0
			return r
		}(), "rating.channel"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v dossier.Violations
			dossier.ValidateRating(tc.rating, "rating", &v)
			if tc.field == "" {
				if len(v) > 0 {
					t.Fatalf("refused: %v", v)
				}
				return
			}
			for _, x := range v {
				if x.Field == tc.field {
					return
				}
			}
			t.Fatalf("got %v, want a violation of %s", v, tc.field)
		})
	}
}

func TestRateWhen(t *testing.T) {
	cal := sample.Calendar()
	legacy := dossierIn(dossier.Returned)
	legacy.Satisfaction = dossier.Satisfied
	rated := dossierIn(dossier.Returned)
	rated.Rating = fullRating(dossier.Satisfied)
	tests := []struct {
		name string
		d    *dossier.Dossier
		role dossier.Role
		ok   bool
	}{
		{"art. 33(1)(a): the result returned", dossierIn(dossier.Returned), dossier.Citizen, true},
		{"art. 33: the refusal issued", dossierIn(dossier.Refused), dossier.Citizen, true},
		{"art. 17(1)(c), 33(1)(c): guided at reception", dossierIn(dossier.Guided), dossier.Citizen, true},
		{"art. 17(1)(c), 33(1)(c): refused at reception", dossierIn(dossier.RefusedAtReception), dossier.Citizen, true},
		{"art. 33(1)(a): the result not yet returned", dossierIn(dossier.ResultReady), dossier.Citizen, false},
		{"art. 33: still being handled", dossierIn(dossier.InProcessing), dossier.Citizen, false},
		{"art. 33: waiting for supplements", dossierIn(dossier.AwaitingSupplement), dossier.Citizen, false},
		{"art. 21: withdrawn", dossierIn(dossier.Withdrawn), dossier.Citizen, false},
		{"art. 19(5): closed unsupplemented", dossierIn(dossier.ClosedUnsupplemented), dossier.Citizen, false},
		{"transferred: rated at the competent commune", dossierIn(dossier.Transferred), dossier.Citizen, false},
		{"art. 29(1): once per dossier", rated, dossier.Citizen, false},
		{"art. 29(1): a clerk's level at return (legacy) counts as the rating", legacy, dossier.Citizen, false},
		{"art. 30(2): the clerk does not rate", dossierIn(dossier.Returned), dossier.Clerk, false},
		{"art. 30(2): the leader does not rate", dossierIn(dossier.Returned), dossier.Leader, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := dossier.RateCommand(fullRating(dossier.VerySatisfied), t0.Add(time.Hour))
			cmd.Role = tc.role
			ev, err := dossier.Decide(tc.d, cmd, cal)
			if tc.ok != (err == nil) {
				t.Fatalf("Decide: %v, want ok %v", err, tc.ok)
			}
			if tc.ok != (dossier.Rateable(tc.d) == nil) && tc.role == dossier.Citizen {
				t.Errorf("Rateable disagrees with Decide")
			}
			// Central re-decides alike: a forged RATE is refused with the same rule.
			forged := forge(tc.d, cmd, dossier.StateUnspecified)
			forged.Rating = cmd.Rating
			if cerr := dossier.CheckEvent(tc.d, forged, "09619"); tc.ok != (cerr == nil) {
				t.Fatalf("CheckEvent: %v, want ok %v", cerr, tc.ok)
			}
			if !tc.ok {
				var te *dossier.TransitionError
				var re *dossier.RoleError
				if !errors.As(err, &te) && !errors.As(err, &re) {
					t.Fatalf("got %T %v, want a transition or role error", err, err)
				}
				return
			}
			if ev.GetState() != tc.d.GetState() || ev.GetRating() == nil || ev.GetActor() != dossier.CitizenActor {
				t.Fatalf("event %v: the state stays, the rating is carried, the citizen unnamed", ev)
			}
			d := dossier.Clone(tc.d)
			dossier.Apply(d, ev)
			if !proto.Equal(d.GetRating(), cmd.Rating) || dossier.Rateable(d) == nil {
				t.Fatalf("after the rating: %v, and a second one must be refused", d.GetRating())
			}
		})
	}
}

func TestCentralRefusesForgedRatings(t *testing.T) {
	d := dossierIn(dossier.Returned)
	ok := forge(d, dossier.RateCommand(fullRating(dossier.Satisfied), t0.Add(time.Hour)), dossier.StateUnspecified)
	ok.Rating = fullRating(dossier.Satisfied)
	if err := dossier.CheckEvent(d, ok, "09619"); err != nil {
		t.Fatalf("the honest rating: %v", err)
	}
	var owner *dossier.OwnerError
	if err := dossier.CheckEvent(d, ok, "00004"); !errors.As(err, &owner) {
		t.Errorf("another commune rates 09619's dossier: got %v, want an owner error", err)
	}
	tests := []struct {
		name   string
		mutate func(ev *dossier.Event)
		field  string
	}{
		{"a RATE without a rating", func(ev *dossier.Event) { ev.Rating = nil }, "event.rating"},
		{"a rating on a REFUSE's return", func(ev *dossier.Event) {
			ev.Action, ev.Role, ev.Actor = dossier.Return, dossier.Clerk, "motcua.1"
		}, "event.rating"},
		{"a RATE that names someone (art. 29(3))", func(ev *dossier.Event) { ev.Actor = "motcua.1" }, "event.actor"},
		{"a RATE that changes the state", func(ev *dossier.Event) { ev.State = dossier.InProcessing }, "event.state"},
		{"a clerk's level at the return of a refusal the citizen rated (art. 29(1): one rating)", func(ev *dossier.Event) {
			ev.Action, ev.Role, ev.Actor, ev.Rating = dossier.Return, dossier.Clerk, "motcua.1", nil
			ev.Satisfaction = dossier.VerySatisfied
		}, "event.satisfaction"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := proto.Clone(ok).(*dossier.Event)
			tc.mutate(ev)
			on := d
			if ev.GetAction() == dossier.Return {
				on = dossierIn(dossier.Refused)
				ev.State = dossier.Refused
				if ev.GetSatisfaction() != 0 {
					on.Rating = fullRating(dossier.NotSatisfied)
				}
			}
			err := dossier.CheckEvent(on, ev, "09619")
			var v dossier.Violations
			if !errors.As(err, &v) || !strings.Contains(v.Error(), tc.field) {
				t.Fatalf("got %v, want a violation of %s", err, tc.field)
			}
		})
	}
	// A rating beyond the bounds is refused before any state is read.
	bad := proto.Clone(ok).(*dossier.Event)
	bad.Rating.Comment = strings.Repeat("x", dossier.MaxRatingCommentBytes+1)
	rec := &xasov1.OutboxRecord{Sequence: 1, CommuneCode: "09619", DossierCode: d.GetCode(), Event: bad, Hash: make([]byte, 32), PrevHash: make([]byte, 32)}
	if err := dossier.ValidateRecord(rec, "09619", t0.Add(2*time.Hour)); err == nil || !strings.Contains(err.Error(), "event.rating.comment") {
		t.Errorf("a 1001-byte comment: got %v", err)
	}
}

func TestOverallLevel(t *testing.T) {
	mixed := func(levels ...xasov1.Satisfaction) *xasov1.Rating {
		r := &xasov1.Rating{}
		for i, l := range levels {
			r.Scores = append(r.Scores, &xasov1.RatingScore{Content: dossier.Contents[i].Content, Level: l})
		}
		return r
	}
	v, s, n := dossier.VerySatisfied, dossier.Satisfied, dossier.NotSatisfied
	tests := []struct {
		name   string
		rating *xasov1.Rating
		want   xasov1.Satisfaction
	}{
		{"all very satisfied", fullRating(v), v},
		{"all satisfied", fullRating(s), s},
		{"all not satisfied", fullRating(n), n},
		{"mean 2.5: very satisfied", mixed(v, s, v, s), v},
		{"mean 2.33: satisfied", mixed(v, s, s), s},
		{"mean 1.5: satisfied", mixed(s, n, s, n), s},
		{"mean 1.33: not satisfied", mixed(s, n, n), n},
		{"one unhappy content among four very satisfied: the mean, 2.6 (the per-content counts show the one)", mixed(v, v, v, v, n), v},
		{"no levels", &xasov1.Rating{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dossier.OverallLevel(tc.rating); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
