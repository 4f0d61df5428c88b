"""The two learned components, split by job.

Learned IK (pose4 arms):

* :mod:`~ikml_gym.learned.ik` -- ``LearnedIK`` (model + inference) and ``load_ik``;
* :mod:`~ikml_gym.learned.ik_encoding` -- pose and joint encodings of the regressors;
* :mod:`~ikml_gym.learned.ik_networks` -- the per-cluster networks;
* :mod:`~ikml_gym.learned.ik_file` -- its model file;
* :mod:`~ikml_gym.learned.train_ik` -- training (scikit-learn) and learning curves;
* :mod:`~ikml_gym.learned.ik_eval` -- the evaluation table and its plots.

Multi-hypothesis learned IK (v2, any serial-chain arm):

* :mod:`~ikml_gym.learned.mh_ik` -- ``MultiHypothesisIK`` (K heads, FK check of every head);
* :mod:`~ikml_gym.learned.mh_encoding` -- its inputs and outputs;
* :mod:`~ikml_gym.learned.mh_ik_file` -- its model file;
* :mod:`~ikml_gym.learned.torch_fk` -- the differentiable FK it is trained through;
* :mod:`~ikml_gym.learned.train_mh_ik` -- training (torch), checkpoints and curves;
* :mod:`~ikml_gym.learned.torch_state` -- its checkpoint files (safetensors, no pickle).

Feasibility classifier (pose -> reachability / conditioning class):

* :mod:`~ikml_gym.learned.classifier` -- ``FeasibilityClassifier`` (model + inference)
  and ``load_classifier``;
* :mod:`~ikml_gym.learned.classifier_encoding` -- its derived inputs;
* :mod:`~ikml_gym.learned.classifier_file` -- its model file;
* :mod:`~ikml_gym.learned.train_classifier` -- training (torch) and the data split;
* :mod:`~ikml_gym.learned.classifier_eval` -- metrics, tables and plots;
* :mod:`~ikml_gym.learned.feasibility` -- ``FeasibilityFilter``: the classifier where it
  is sure, a numerical solver where it is not.

Shared: :mod:`~ikml_gym.learned.mlp` (the numpy forward pass),
:mod:`~ikml_gym.learned.hypotheses` (one answer among several proposals) and
:mod:`~ikml_gym.learned.model_files` (which arm a model file is for). The shipped
files are found by :mod:`ikml_gym.pretrained`.

Submodules are imported on demand so ``import ikml_gym`` stays light; the model and
inference modules import no torch, scikit-learn, tqdm or matplotlib.
"""
