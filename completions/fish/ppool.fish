# fish completion for ppool (pkit): pkit-complete answers from ppool's grammar;
# where it has nothing to offer (a file argument), fish completes paths.
function __complete_ppool
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    set -l words (command pkit-complete ppool)
    if set -q words[1]
        printf '%s\n' $words
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c ppool -f -a "(__complete_ppool)"
