"""The shipped data, installed as the package `charlm.corpora` (pure standard library).

    agreement.txt                 the embedded default training corpus
    agreement/*.jsonl             the held-out probe suite; agreement/known_words/ its in-vocabulary half
    grammar.py                    the grammar that generates both
    make_agreement_corpus.py      the recipe: python -m charlm.corpora.make_agreement_corpus
"""
