# fish completion for pshm (pkit): pkit-complete answers from pshm's grammar;
# where it has nothing to offer (a file argument), fish completes paths.
function __complete_pshm
    set -lx COMP_LINE (commandline -cp)
    test -z (commandline -ct)
    and set COMP_LINE "$COMP_LINE "
    set -l words (command pkit-complete pshm)
    if set -q words[1]
        printf '%s\n' $words
    else
        __fish_complete_path (commandline -ct)
    end
end
complete -c pshm -f -a "(__complete_pshm)"
