"""Files fairview serves to browsers: the player SDK (static/fairview-player.js)."""
