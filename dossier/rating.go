package dossier

import (
	"fmt"
	"slices"
	"strings"
	"time"

	xasov1 "github.com/xaso/xaso/api/proto/xaso/v1"
)

// The citizens' evaluation of how their dossier was handled (Decree
// 118/2025 ch. V): the organisations and people who carry out a procedure
// evaluate it (art. 30(2)), through an electronic device at the one-stop
// desk or online (art. 31(1)(b), (c)), on the nine contents of art. 33(1).
//
// Choices the decree leaves open, and what xaso does:
//
//   - The scale. The decree sets none; xaso uses the three levels of the
//     Satisfaction enum (rất hài lòng, hài lòng, không hài lòng), the ones
//     the desk recorded before and the satisfaction indicators count
//     (Aggregate.very_satisfied, satisfied, not_satisfied).
//   - What must be rated. Contents (a)–(e) concern every dossier that
//     reached the desk: its time, the contacts it needed, the information,
//     the staff, the result and its cost. (g) is about answers to feedback
//     and complaints, (h) about the online service and (i) is whatever
//     else the citizen has to say: not every citizen had those, so they may
//     be left out. At least (a)–(e) are rated; (i) is a level, a comment,
//     both or neither.
//   - When. Art. 33 evaluates the handling of the procedure, so the
//     outcome must exist: the result returned, the refusal issued, or the
//     dossier guided or refused at reception (art. 17(1)(c), which art.
//     33(1)(b)–(c) evaluate). Not while the dossier is being handled, nor
//     once it was withdrawn, closed unsupplemented or transferred away
//     (the competent commune's dossier is rated there).
//   - How often. Once per dossier: the first rating counts and a second is
//     refused, so that no one (a clerk at the desk device, a stolen node)
//     can rate over the citizen, and the indicators count dossiers, not
//     clicks (art. 29(1): objective, accurate). A dossier whose clerk typed
//     a level at return before citizens rated (legacy) is rated already.

// Rating is a citizen's rating of one dossier.
type Rating = xasov1.Rating

// RatingContent is one content of Decree 118/2025 art. 33(1).
type RatingContent = xasov1.RatingContent

// Satisfaction levels, the scale of a rating.
const (
	VerySatisfied = xasov1.Satisfaction_SATISFACTION_VERY_SATISFIED
	Satisfied     = xasov1.Satisfaction_SATISFACTION_SATISFIED
	NotSatisfied  = xasov1.Satisfaction_SATISFACTION_NOT_SATISFIED
)

// Rate is the citizen's rating action; Citizen the role that takes it.
const (
	Rate    = xasov1.Action_ACTION_RATE
	Citizen = xasov1.Role_ROLE_CITIZEN
)

// CitizenActor is the actor of every RATE event: the citizen is not named
// (art. 29(3) keeps who evaluates confidential), the channel says where.
const CitizenActor = "citizen"

// MaxRatingCommentBytes bounds the comment of content (i).
const MaxRatingCommentBytes = 1000

// RatingScale is the scale of a rating, best first.
var RatingScale = []xasov1.Satisfaction{VerySatisfied, Satisfied, NotSatisfied}

// Content is one content of art. 33(1) as the forms show it.
type Content struct {
	Content RatingContent
	// Point is the point of art. 33(1): "a" … "i".
	Point string
	// Optional contents may be left out.
	Optional bool
}

// Contents are the nine contents of Decree 118/2025 art. 33(1), in order.
var Contents = []Content{
	{xasov1.RatingContent_RATING_CONTENT_RETURN_TIME, "a", false},
	{xasov1.RatingContent_RATING_CONTENT_AGENCIES_CONTACTED, "b", false},
	{xasov1.RatingContent_RATING_CONTENT_CONTACTS_NEEDED, "c", false},
	{xasov1.RatingContent_RATING_CONTENT_INFORMATION, "d", false},
	{xasov1.RatingContent_RATING_CONTENT_STAFF_CONDUCT, "đ", false},
	{xasov1.RatingContent_RATING_CONTENT_RESULT_AND_COST, "e", false},
	{xasov1.RatingContent_RATING_CONTENT_COMPLAINT_HANDLING, "g", true},
	{xasov1.RatingContent_RATING_CONTENT_ONLINE_SERVICE, "h", true},
	{xasov1.RatingContent_RATING_CONTENT_OTHER, "i", true},
}

// ContentName is the content without its enum prefix, e.g. "RETURN_TIME".
func ContentName(c RatingContent) string { return strings.TrimPrefix(c.String(), "RATING_CONTENT_") }

// Rateable says why d cannot be rated now, or nil when it can: its outcome
// exists (the result returned, the refusal issued, a guidance or a refusal
// at reception) and nobody rated it yet. The error is a *TransitionError.
func Rateable(d *Dossier) error {
	why := ""
	switch s := d.GetState(); {
	case s == Returned, s == Refused, s == Guided, s == RefusedAtReception:
	case s == ResultReady:
		why = "the result is rated once it was returned (Decree 118/2025 art. 33(1)(a))"
	default:
		why = "a dossier is rated once its outcome exists: returned, refused, guided or refused at reception (Decree 118/2025 art. 33)"
	}
	switch {
	case why != "":
	case d.GetRating() != nil:
		why = "the dossier was rated already: one rating per dossier"
	case d.GetSatisfaction() != 0:
		why = "the dossier was rated already, at its return"
	}
	if why != "" {
		return &TransitionError{Action: Rate, State: d.GetState(), Why: why}
	}
	return nil
}

// ValidateRating checks a rating's form under field f: each content at most
// once, in order, with a level of the scale; contents (a)–(e) rated; the
// comment bounded text; a known channel.
func ValidateRating(r *Rating, f string, v *Violations) {
	if r == nil {
		v.Add(f, "a rating is required")
		return
	}
	if len(r.GetScores()) > len(Contents) {
		v.Add(f+".scores", fmt.Sprintf("at most %d, one per content", len(Contents)))
		return
	}
	rated := map[RatingContent]bool{}
	last := xasov1.RatingContent_RATING_CONTENT_UNSPECIFIED
	for i, s := range r.GetScores() {
		sf := fmt.Sprintf("%s.scores[%d]", f, i)
		switch c := s.GetContent(); {
		case !knownEnum(c, xasov1.RatingContent_name):
			v.Add(sf+".content", "a content of Decree 118/2025 art. 33(1)")
		case c <= last:
			v.Add(sf+".content", "each content once, in order")
		default:
			rated[c], last = true, c
		}
		if !slices.Contains(RatingScale, s.GetLevel()) {
			v.Add(sf+".level", "very satisfied, satisfied or not satisfied")
		}
	}
	for _, c := range Contents {
		if !c.Optional && !rated[c.Content] {
			v.Add(f+".scores", fmt.Sprintf("content (%s) of Decree 118/2025 art. 33(1) is rated by everyone", c.Point))
		}
	}
	if !validText(r.GetComment(), MaxRatingCommentBytes) {
		v.Add(f+".comment", fmt.Sprintf("at most %d bytes of text, without control characters", MaxRatingCommentBytes))
	}
	if !knownEnum(r.GetChannel(), xasov1.RatingChannel_name) {
		v.Add(f+".channel", "the look-up page or the desk device")
	}
}

// OverallLevel is the level a rating counts as in the satisfaction
// indicators (Aggregate.very_satisfied, satisfied, not_satisfied): the
// mean of its levels with very satisfied 3, satisfied 2, not satisfied 1
// (the points of the satisfaction average), 2.5 and up very satisfied,
// under 1.5 not satisfied, satisfied between. A rating without levels
// counts as none (0).
func OverallLevel(r *Rating) xasov1.Satisfaction {
	sum, n := 0, 0
	for _, s := range r.GetScores() {
		if p := points(s.GetLevel()); p > 0 {
			sum, n = sum+p, n+1
		}
	}
	switch {
	case n == 0:
		return 0
	case 2*sum >= 5*n:
		return VerySatisfied
	case 2*sum < 3*n:
		return NotSatisfied
	default:
		return Satisfied
	}
}

func points(s xasov1.Satisfaction) int {
	switch s {
	case VerySatisfied:
		return 3
	case Satisfied:
		return 2
	case NotSatisfied:
		return 1
	}
	return 0
}

// RateCommand is the command of a citizen's rating r given at t.
func RateCommand(r *Rating, t time.Time) Command {
	return Command{Action: Rate, Actor: CitizenActor, Role: Citizen, Time: t, Rating: r}
}
