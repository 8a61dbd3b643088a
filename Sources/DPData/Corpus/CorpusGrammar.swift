import DPBase
import Foundation

/// The hand-written grammar behind `BuiltinCorpus`: stories (opening, setting, a find or a loss,
/// a dialogue, a problem, help, an ending) and dialogues (greeting, an offer, news, goodbye),
/// every choice drawn from a SplitMix64 generator, so the text depends only on the seed.
struct CorpusGrammar {
    private var random: SplitMix64

    init(seed: UInt64) { random = SplitMix64(seed: seed) }

    /// A character of a story: a name, a kind of animal, and the pronouns that go with them.
    private struct Character {
        let name: String, animal: String, adjective: String
        let he: String, him: String, his: String
        var He: String { Self.capitalized(he) }
        var His: String { Self.capitalized(his) }
        static func capitalized(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
    }

    // MARK: Vocabulary

    private static let girls = ["Anna", "Lily", "Mia", "Lucy", "Emma", "Rosa", "Nora", "Ruby", "Ella", "Ivy",
                                "Sara", "Zoe", "Alice", "Grace", "Daisy", "Molly"]
    private static let boys = ["Ben", "Tom", "Sam", "Max", "Jack", "Leo", "Finn", "Oscar", "Hugo", "Theo",
                               "Noah", "Paul", "Peter", "Oliver", "Henry", "Felix"]
    private static let animals = ["fox", "rabbit", "bear", "cat", "dog", "owl", "mouse", "duck", "frog", "bird",
                                  "horse", "goat", "pig", "squirrel", "hedgehog", "turtle", "lion", "elephant",
                                  "penguin", "badger", "otter", "lamb", "deer", "wolf"]
    private static let adjectives = ["little", "big", "small", "brave", "kind", "happy", "old", "young", "shy",
                                     "clever", "funny", "quiet", "curious", "gentle", "busy", "friendly",
                                     "sleepy", "cheerful", "careful", "proud", "tiny", "strong"]
    private static let colors = ["red", "blue", "green", "yellow", "white", "black", "brown", "orange", "pink",
                                 "purple", "golden", "silver"]
    private static let objects = ["ball", "kite", "hat", "box", "book", "cake", "apple", "boat", "drum", "key",
                                  "lamp", "map", "shell", "stone", "flower", "basket", "cup", "letter", "coat",
                                  "bell", "umbrella", "feather", "scarf", "bucket", "clock", "ribbon", "wagon",
                                  "toy", "picture", "egg"]
    private static let places = ["garden", "forest", "river", "park", "market", "school", "village", "hill",
                                 "farm", "beach", "kitchen", "library", "lake", "bridge", "meadow", "castle",
                                 "valley", "harbor", "orchard", "station", "playground", "field"]
    private static let foods = ["bread", "soup", "honey", "carrots", "cheese", "berries", "apples", "cookies",
                                "milk", "tea", "pie", "rice", "nuts", "pancakes", "plums", "lemonade"]
    private static let times = ["One morning", "One day", "One evening", "One afternoon", "Early one morning",
                                "On a sunny day", "On a rainy day", "Late one night", "One cold winter day",
                                "One warm summer evening", "On the first day of spring", "Last Tuesday"]
    private static let weathers = ["The sun was warm and bright.", "It was raining, and the sky was grey.",
                                   "The wind was cold and strong.", "The sky was clear and blue.",
                                   "Snow was falling softly.", "It was a quiet, foggy day.",
                                   "The air smelled of rain and grass."]
    private static let feelings = ["happy", "sad", "scared", "excited", "surprised", "proud", "worried", "glad",
                                   "tired", "hungry", "lonely", "calm", "angry", "thankful"]
    private static let hobbies = ["play", "read", "sing", "walk", "draw", "dance", "swim", "paint", "run",
                                  "climb", "count the stars", "look for bugs", "pick flowers", "build towers"]
    private static let homes = ["in a small house near the", "in a big old house by the", "in a little hole under the",
                                "in a tree beside the", "in a warm nest above the", "in a yellow cottage next to the"]
    private static let problems = ["it was stuck high up in a tree", "it was too heavy to carry alone",
                                   "it was broken in two pieces", "the wind blew it away",
                                   "it fell into the water", "it was hidden under a big rock",
                                   "a goose took it and ran away", "it was covered in mud"]
    private static let helps = ["climbed up and brought it down", "carried it together with", "fixed it with some glue and string",
                                "ran after it as fast as the wind", "found a long stick and pulled it out",
                                "lifted the rock with all the strength in the world", "asked the old owl for help",
                                "washed it in the clean river"]
    private static let endings = ["From that day on, {A} and {B} played together every day.",
                                  "{A} learned that a good friend is the best thing in the world.",
                                  "That night, {A} went to sleep with a big smile.",
                                  "And {A} never lost the {O} again.",
                                  "Everyone {P} said that it was a very good day.",
                                  "{A} and {B} shared some {F} and laughed until the sun went down."]

    // MARK: Drawing

    private mutating func pick<T>(_ options: [T]) -> T { options[random.below(options.count)] }
    private mutating func chance(_ percent: Int) -> Bool { random.below(100) < percent }

    private mutating func character(avoiding other: String? = nil) -> Character {
        while true {
            let girl = chance(50)
            let name = girl ? pick(Self.girls) : pick(Self.boys)
            if name == other { continue }
            return Character(name: name, animal: pick(Self.animals), adjective: pick(Self.adjectives),
                             he: girl ? "she" : "he", him: girl ? "her" : "him", his: girl ? "her" : "his")
        }
    }

    /// "in the forest", "on the hill", "at the market".
    private static func at(_ place: String) -> String {
        switch place {
        case "hill", "beach", "bridge", "farm": return "on the \(place)"
        case "market", "school", "station", "harbor", "playground", "library": return "at the \(place)"
        case "river", "lake": return "by the \(place)"
        default: return "in the \(place)"
        }
    }

    private static func article(_ word: String) -> String {
        "aeiou".contains(word.first!) ? "an" : "a"
    }

    /// Appends one story or dialogue (a story three times in four).
    mutating func piece(into out: inout String) {
        if chance(75) { story(into: &out) } else { dialogue(into: &out) }
    }

    // MARK: Stories

    private mutating func story(into out: inout String) {
        let a = character(), b = character(avoiding: a.name)
        let object = pick(Self.objects), color = pick(Self.colors), place = pick(Self.places)
        let home = pick(Self.places), food = pick(Self.foods)
        var s: [String] = []

        switch random.below(3) {
        case 0: s.append("Once upon a time, there was \(Self.article(a.adjective)) \(a.adjective) \(a.animal) named \(a.name).")
        case 1: s.append("There once was \(Self.article(a.adjective)) \(a.adjective) \(a.animal) called \(a.name).")
        default: s.append("\(a.name) was \(Self.article(a.adjective)) \(a.adjective) \(a.animal).")
        }
        s.append("\(a.He) lived \(pick(Self.homes)) \(home).")
        if chance(70) { s.append("Every day, \(a.name) liked to \(pick(Self.hobbies)) \(Self.at(home)).") }
        s.append(pick(Self.times) + ", " + pick(Self.weathers).lowercasedFirst)

        let found = chance(55)
        if found {
            s.append("\(a.name) went to the \(place) and found \(Self.article(color)) \(color) \(object).")
        } else {
            s.append("\(a.name) could not find \(a.his) \(color) \(object) anywhere. \(a.He) was very \(pick(["sad", "worried", "upset"])).")
        }
        s.append("Then \(a.name) met \(b.name), \(Self.article(b.adjective)) \(b.adjective) \(b.animal).")

        s.append(greeting(a, b, place: place))
        if found {
            s.append("\"Look, I found \(Self.article(color)) \(color) \(object)!\" said \(a.name).")
            s.append("\"What a \(pick(["good", "lovely", "beautiful", "strange", "wonderful"])) \(object)!\" said \(b.name).")
        } else {
            s.append("\"I lost my \(object),\" said \(a.name). \"It is \(color).\"")
            s.append("\"Do not worry, I will help you,\" said \(b.name). \"Let us look \(Self.at(place)).\"")
            s.append("They walked to the \(place) and looked everywhere. At last they saw the \(color) \(object).")
        }

        let problem = pick(Self.problems)
        s.append("But \(problem).")
        let help = pick(Self.helps)
        if help.hasPrefix("carried it together with") {
            s.append("\(b.name) \(help) \(a.name).")
        } else {
            s.append("\(b.name) \(help).")
        }
        s.append("\(a.name) was so \(pick(["happy", "glad", "thankful", "surprised", "proud"])).")
        s.append("\"Thank you, \(b.name),\" \(a.he) said. \"You are a good friend.\"")
        if chance(50) {
            s.append("\"You are welcome,\" said \(b.name). \"Would you like some \(food)?\"")
            s.append("\"Yes, please!\" said \(a.name), and they had the \(food) together \(Self.at(place)).")
        }
        var ending = pick(Self.endings)
        ending = ending.replacingAll("{A}", a.name).replacingAll("{B}", b.name)
            .replacingAll("{O}", object).replacingAll("{P}", Self.at(place)).replacingAll("{F}", food)
        s.append(ending)
        if chance(30) { s.append("The end.") }

        // Two or three paragraphs.
        let breakAt = s.count / 2 + random.below(2)
        out += s[..<breakAt].joined(separator: " ")
        out += "\n"
        out += s[breakAt...].joined(separator: " ")
        out += "\n"
    }

    private mutating func greeting(_ a: Character, _ b: Character, place: String) -> String {
        switch random.below(6) {
        case 0: return "\"Hello, \(b.name)!\" said \(a.name). \"Hello, \(a.name)!\" said \(b.name)."
        case 1: return "\"Hello, world!\" shouted \(a.name), and \(b.name) laughed."
        case 2: return "\"Good morning, \(b.name). How are you today?\" asked \(a.name). \"I am \(pick(Self.feelings)), thank you,\" said \(b.name)."
        case 3: return "\"Welcome to the \(place)!\" said \(b.name). \"It is good to see you, \(a.name).\""
        case 4: return "\"Hello there,\" said \(b.name). \"Where are you going, \(a.name)?\""
        default: return "\(b.name) waved and said, \"Good day, \(a.name)! Welcome!\""
        }
    }

    // MARK: Dialogues

    private mutating func dialogue(into out: inout String) {
        let a = character(), b = character(avoiding: a.name)
        let place = pick(Self.places), food = pick(Self.foods), object = pick(Self.objects)
        var lines: [(Character, String)] = []
        switch random.below(3) {
        case 0: lines.append((a, "Hello, \(b.name)! Welcome to my \(place)."))
        case 1: lines.append((a, "Hello, world! Hello, \(b.name)!"))
        default: lines.append((a, "Good \(pick(["morning", "evening", "afternoon"])), \(b.name)."))
        }
        lines.append((b, "Hello, \(a.name). It is good to see you. How are you?"))
        let feeling = pick(Self.feelings)
        lines.append((a, "I am \(feeling) today."))
        switch feeling {
        case "sad", "lonely", "worried", "scared", "angry":
            lines.append((b, "Oh no. What happened?"))
            lines.append((a, "I lost my \(pick(Self.colors)) \(object) near the \(pick(Self.places))."))
            lines.append((b, "Do not be \(feeling). We will find it together."))
        case "hungry", "tired":
            lines.append((b, "Come in and sit down. Would you like some \(food)?"))
            lines.append((a, "Yes, please. I love \(food)."))
        default:
            lines.append((b, "That is good! Why are you \(feeling)?"))
            lines.append((a, "Because I \(pick(["made", "found", "got", "painted"])) \(Self.article(object)) \(object) for my \(pick(["mother", "father", "sister", "brother", "friend", "teacher"]))."))
            lines.append((b, "What a good idea. Can I see it?"))
            lines.append((a, "Of course! Come with me to the \(place)."))
        }
        if chance(50) {
            lines.append((b, "Would you like some \(food)?"))
            lines.append((a, chance(70) ? "Yes, please. Thank you!" : "No, thank you. I am not hungry."))
        }
        lines.append((b, pick(["Goodbye, \(a.name)! See you tomorrow.", "Good night, \(a.name).", "Bye! Come again soon."])))
        lines.append((a, pick(["Goodbye, \(b.name)!", "Thank you for everything, \(b.name).", "See you soon, \(b.name)."])))
        for (who, line) in lines { out += "\(who.name): \(line)\n" }
    }
}

private extension String {
    /// The string with its first letter in lower case ("The sun" -> "the sun").
    var lowercasedFirst: String { prefix(1).lowercased() + dropFirst() }

    func replacingAll(_ target: String, _ replacement: String) -> String {
        var out = ""
        var rest = self[...]
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
