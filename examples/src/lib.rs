//! Runnable partner scenarios (KVO buitengebied, autobranche, horeca Bibob, police, privacy
//! officer) come here with the SDK client; until then the README tour shows the same flows.
