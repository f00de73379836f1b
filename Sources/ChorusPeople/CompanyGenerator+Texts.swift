/// The words the company generator puts in records: plausible, short, and in the spirit of the
/// seeds (`../shared/seeds/`), so a demo company reads like a real one.
extension CompanyGenerator {
    /// 2026-09-21T00:00:00Z: the generator's "now", so generated timestamps never depend on the clock.
    static let epochMilliseconds: Int64 = 1_790_000_000_000

    /// Job titles with their role in the career framework.
    static let titles = [("Engineer", "developer"), ("Senior Engineer", "developer"), ("Data Scientist", "developer"),
                         ("Designer", "designer"), ("Product Owner", "product owner"), ("Agile Coach", "coach")]

    static let departments = ["Technology", "Product & Design", "Content Platform", "Research"]

    /// Built-in badges: id, name, icon, what it recognises.
    static let badges: [(String, String, String, String)] = [
        ("badge-team-player", "Team player", "🤝", "Made the whole team better"),
        ("badge-shipped", "Shipped it", "🚀", "Got something important out of the door"),
        ("badge-mentor", "Mentor", "🧭", "Helped someone grow"),
        ("badge-bug-hunter", "Bug hunter", "🐛", "Found and fixed what others missed"),
        ("badge-bright-idea", "Bright idea", "💡", "An idea that changed how we work"),
    ]

    static let praiseTexts = [
        "Thanks for the pairing session!", "Great demo today.", "The design review was really useful.", "Your write-up unblocked us.",
        "Thank you for covering the on-call shift.", "The migration went perfectly, thanks to your plan.", "Loved how you ran the retro.",
    ]

    static let feedbackTexts = [
        "Consider sharing the plan earlier next time.", "The proposal would land better with a summary up front.",
        "Try to involve the chapter earlier in design decisions.", "Your code reviews are thorough; a little more context in comments would help newcomers.",
    ]

    static let teamObjectiveTitles = [
        "Make onboarding a one-day experience", "Halve the time from idea to production", "Grow listening time in new markets",
        "Raise reliability to four nines", "Every squad ships weekly",
    ]

    static let keyResultTitles = [
        "Median lead time under two days", "Incidents per month", "Squads on the new platform", "Customer satisfaction score",
        "Experiments run", "Pages with accessibility audits passed",
    ]

    static let opportunityTexts = [
        "Join us for a quarter to build the first version; we pair a lot and welcome people learning the stack.",
        "A part-time project, a few hours a week, with a mentor from the chapter.",
        "Help a company bet reach its first milestone; remote-friendly, async by default.",
        "Mentor a new joiner through their first three months.",
    ]

    /// Abilities of the career framework: name and why it matters.
    static let abilities = [
        ("Thinks about business impact", "Our autonomy is coupled with accountability: knowing how work moves the business."),
        ("Collaborates across teams", "Most valuable work crosses squads, chapters and tribes."),
        ("Writes maintainable code", "Code is read far more than it is written."),
        ("Coaches others", "We grow by helping each other grow."),
    ]

    /// The five steps every ability shares: title and what the step means.
    static let milestones = [
        ("Individual step", "A useful contributor, gaining experience and learning to be effective on the team."),
        ("Squad/Chapter step", "A resource for the squad or chapter; leads smaller efforts to completion."),
        ("Tribe/Guild step", "Impact across squads or chapters; leads cross-team efforts."),
        ("Technology/Company step", "Supports company-wide initiatives and solves very complex problems."),
        ("Industry step", "Recognised outside the company; shapes the field."),
    ]

    static let examples = [
        "Shows interest in learning about other parts of the company", "Engages in discussion around business impact when discussing work",
        "Finds appropriate metrics and measures return on effort when making decisions", "Represents Technology in company-level discussions",
        "Leads a cross-squad effort to completion", "Mentors a new joiner through their first project",
    ]
}
