"""hiertcn-keras: HierTCN (WWW 2019) in Keras 3, from raw click logs to `.keras` artifacts.

The package root stays light (no Keras import) so that the data tools and `hiertcn --help`
start fast. `import hiertcn_keras.models` registers every custom Keras object under the
package name `"hiertcn"`; after it, `keras.models.load_model("model.keras")` needs no
`custom_objects`.
"""

__version__ = "0.1.0"
