"""The report's Markdown: one module per section, each turning that section's data into
(Markdown, goals); ``report`` puts the sections, the goals table and the notes together."""
