// The paper's synthetic sentiment data (§4.2): 500 training and 100 validation sentences built
// from positive and negative templates, seeded, balanced. Same seed → same sentences.
import MMOCore

/// Generator of template sentences with a clear sentiment pattern.
public enum SyntheticSentiment {
    /// Label names, index = class id.
    public static let labelNames = ["negative", "positive"]

    static let subjects = [
        "the movie", "this film", "the acting", "the story", "the plot", "the soundtrack",
        "the ending", "the cast", "the director", "this show", "the script", "the dialogue",
    ]
    static let positiveAdjectives = [
        "wonderful", "brilliant", "great", "excellent", "delightful", "moving", "superb",
        "charming", "fantastic", "beautiful", "clever", "enjoyable",
    ]
    static let negativeAdjectives = [
        "terrible", "boring", "awful", "dull", "painful", "weak", "horrible", "tedious",
        "disappointing", "bland", "clumsy", "forgettable",
    ]
    static let positiveVerbs = ["loved", "enjoyed", "adored", "admired", "liked", "treasured"]
    static let negativeVerbs = ["hated", "disliked", "regretted", "despised", "loathed", "resented"]
    static let intensifiers = ["really", "truly", "absolutely", "quite", "very", "so"]
    static let fillers = ["honestly", "overall", "in the end", "to be fair", "frankly", "all in all"]

    /// Templates: `{S}` subject, `{A}` adjective, `{V}` verb, `{I}` intensifier, `{F}` filler.
    static let templates = [
        "{S} was {I} {A}",
        "i {I} {V} {S}",
        "{F} , {S} is {A}",
        "{S} felt {A} and {A}",
        "we {V} {S} , it was {A}",
        "what a {A} experience , i {V} it",
        "{F} i {V} how {A} {S} was",
        "{S} is {I} {A} from start to finish",
    ]

    /// Makes a balanced dataset of `count` sentences from the stream `stream` of `seed`.
    public static func make(count: Int, seed: UInt64, stream: String) -> LabeledDataset {
        var rng = PhiloxRNG(seed: seed, stream: stream)
        var examples: [LabeledExample] = []
        examples.reserveCapacity(count)
        for i in 0..<count {
            let label = i % 2  // balanced; order is shuffled below
            examples.append(LabeledExample(text: sentence(positive: label == 1, rng: &rng), label: label))
        }
        rng.shuffle(&examples)
        return LabeledDataset(examples: examples, labelNames: labelNames)
    }

    /// The paper's split: 500 training and 100 validation examples from independent streams.
    public static func paperSplit(seed: UInt64) -> (train: LabeledDataset, validation: LabeledDataset) {
        (
            make(count: 500, seed: seed, stream: "data/synthetic/train"),
            make(count: 100, seed: seed, stream: "data/synthetic/validation")
        )
    }

    static func sentence(positive: Bool, rng: inout PhiloxRNG) -> String {
        func pick(_ words: [String]) -> String { words[rng.nextInt(below: words.count)] }
        var out = ""
        for token in pick(templates).split(separator: " ") {
            let word: String
            switch token {
            case "{S}": word = pick(subjects)
            case "{A}": word = pick(positive ? positiveAdjectives : negativeAdjectives)
            case "{V}": word = pick(positive ? positiveVerbs : negativeVerbs)
            case "{I}": word = pick(intensifiers)
            case "{F}": word = pick(fillers)
            default: word = String(token)
            }
            if !out.isEmpty { out += " " }
            out += word
        }
        return out
    }
}
