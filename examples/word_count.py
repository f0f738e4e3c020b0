# Counts the words of `context` and returns the top three as a structured answer.
# Run: rlm-sandbox exec --context-file examples/data/words.txt examples/word_count.py
import re
from collections import Counter

words = re.findall(r"[a-z]+", context.lower())
top = Counter(words).most_common(3)
print(f"{len(words)} words; most common: {top}")
FINAL({"words": len(words), "top": [w for w, _ in top]})
