# fish completion for ptree (pkit): pkit-complete answers from ptree's grammar;
# where it has nothing to offer (a file argument), fish completes paths.
function __complete_ptree
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    set -l words (command pkit-complete ptree)
    if set -q words[1]
        printf '%s\n' $words
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c ptree -f -a "(__complete_ptree)"
